// The signed-in user: a bearer token (a dev token from the local gateway, or
// a JWT pasted from the app's identity provider, Supabase style), kept for
// this browser tab only. The token is verified by the API, never here; the
// page reads its claims only to choose a view.

const KEY = "messaging.session";

/** The claims of a JWT, or null if it is not one. Not a verification. */
export function decodeClaims(token) {
  const parts = String(token || "").trim().split(".");
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = atob(b64 + "===".slice((b64.length + 3) % 4));
    const claims = JSON.parse(decodeURIComponent(escape(json)));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** `{token, userId, userType, orgId, role, name}` from a token. */
export function sessionOf(token, displayName) {
  const claims = decodeClaims(token) || {};
  const meta = claims.app_metadata || {};
  return {
    token: String(token).trim(),
    userId: claims.sub || "",
    userType: meta.user_type || "",
    orgId: meta.org_id || null,
    role: meta.role || null,
    name: displayName || claims.name || (claims.user_metadata && claims.user_metadata.name) || claims.sub || "",
  };
}

export function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) || "null");
    return s && s.token ? s : null;
  } catch {
    return null;
  }
}

export function saveSession(s) {
  sessionStorage.setItem(KEY, JSON.stringify(s));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}
