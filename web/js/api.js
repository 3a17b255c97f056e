// The public HTTP API (openapi.yaml), and nothing else. Every error becomes
// an ApiError whose `message` is the API's user-readable `error.message`.

import config from "../config.js";

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** The API base URL: `?api=` wins, then config.js, then this origin. */
export function apiBase() {
  const fromQuery = new URLSearchParams(location.search).get("api");
  const base = fromQuery || config.apiBaseUrl || location.origin;
  return base.replace(/\/+$/, "");
}

/** Messages per page: the newest page is what views show and the poll compares. */
export const MESSAGES_PAGE = 50;

/** A client for one bearer token. */
export function createApi(token, base = apiBase()) {
  async function call(method, path, { body, headers = {}, query } = {}) {
    let url = base + path;
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) q.set(k, v);
      const s = q.toString();
      if (s) url += "?" + s;
    }
    const h = { Accept: "application/json", ...headers };
    if (token) h.Authorization = "Bearer " + token;
    if (body !== undefined) h["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch(url, {
        method,
        headers: h,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (e) {
      throw new ApiError(0, "network_error", "Could not reach the server. Check your connection and try again.");
    }
    const text = await resp.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (!resp.ok) {
      const err = json && json.error;
      const message =
        (err && typeof err.message === "string" && err.message) ||
        `The server answered ${resp.status}${resp.statusText ? " " + resp.statusText : ""}.`;
      const details = err ? { ...err } : {};
      const retryAfter = resp.headers.get("Retry-After");
      if (retryAfter) details.retry_after = retryAfter;
      throw new ApiError(resp.status, (err && err.code) || "http_" + resp.status, message, details);
    }
    return json;
  }

  const enc = encodeURIComponent;
  return {
    base,
    listConversations: (query = {}) => call("GET", "/conversations", { query: { limit: 100, ...query } }),
    getConversation: (id) => call("GET", `/conversations/${enc(id)}`),
    getMessages: (id, query = {}) =>
      call("GET", `/conversations/${enc(id)}/messages`, { query: { order: "desc", limit: MESSAGES_PAGE, ...query } }),
    sendMessage: (id, body, idempotencyKey) =>
      call("POST", `/conversations/${enc(id)}/messages`, {
        body,
        headers: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {},
      }),
    markRead: (id) => call("POST", `/conversations/${enc(id)}/read`),
    unread: () => call("GET", "/me/unread"),
    updateStatus: (id, status) => call("PATCH", `/conversations/${enc(id)}`, { body: { status } }),
    providerStats: () => call("GET", "/stats/providers"),
  };
}

/** The demo users' dev tokens, served only by the local dev gateway; null elsewhere. */
export async function fetchDevTokens(base = apiBase()) {
  try {
    const resp = await fetch(base + "/dev/tokens", { cache: "no-store", headers: { Accept: "application/json" } });
    if (!resp.ok) return null;
    const json = await resp.json();
    return Array.isArray(json && json.users) ? json.users : null;
  } catch {
    return null;
  }
}

/** A fresh Idempotency-Key (visible ASCII, as the API requires). */
export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
