// Small DOM helpers: no framework, no innerHTML with data (text only).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
});

/** "14:05" today, "Dec 1, 14:05" otherwise. */
export function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const now = new Date();
  return d.toDateString() === now.toDateString() ? timeFmt.format(d) : dateTimeFmt.format(d);
}

export function timeEl(iso) {
  return h("time", { datetime: iso, title: iso ? new Date(iso).toLocaleString() : "" }, formatTime(iso));
}

/** "3h 12m" */
export function formatDuration(ms) {
  const m = Math.max(0, Math.floor(ms / 60000));
  const hours = Math.floor(m / 60);
  const mins = m % 60;
  return hours ? `${hours}h ${mins}m` : `${mins}m`;
}

/** A delivery status as ticks, with words for screen readers and tests. */
const TICKS = {
  pending: ["🕓", "sending"],
  queued: ["🕓", "queued"],
  accepted: ["🕓", "accepted"],
  sending: ["🕓", "sending"],
  sent: ["✓", "sent"],
  delivered: ["✓✓", "delivered"],
  read: ["✓✓", "read"],
  failed: ["✕", "failed"],
  undelivered: ["✕", "undelivered"],
  canceled: ["✕", "canceled"],
  unknown: ["?", "delivery unknown"],
};

export function ticks(status) {
  const [glyph, words] = TICKS[status] || ["", status || ""];
  return h(
    "span",
    { class: `ticks ticks-${status}`, "data-status": status, title: words, "aria-label": `Delivery: ${words}` },
    glyph,
  );
}

/** A busy indicator on a button while `fn` runs; errors go to `onError`. */
export async function withProgress(button, label, fn, onError) {
  const old = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = label;
  try {
    return await fn();
  } catch (e) {
    if (onError) onError(e);
    else throw e;
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = old;
  }
}

/** The app-wide notice area (role=alert for errors, status for progress). */
export function notify(message, kind = "error") {
  const area = document.getElementById("notices");
  if (!area) return;
  // One confirmation at a time; errors stay until dismissed.
  if (kind !== "error") area.querySelectorAll(".notice-info").forEach((n) => n.remove());
  const n = h(
    "div",
    { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", {}, message),
    h("button", { type: "button", class: "link", "aria-label": "Dismiss", onclick: () => n.remove() }, "×"),
  );
  area.append(n);
  if (kind !== "error") setTimeout(() => n.remove(), 4000);
}

export function spinner(label = "Loading…") {
  return h("div", { class: "loading", role: "status", "aria-live": "polite" }, h("span", { class: "spin", "aria-hidden": "true" }), label);
}

/**
 * Make `list`'s children the `items` (each with `data-key`), keeping every
 * existing child whose markup is unchanged. Returns whether items were added.
 */
export function reconcile(list, items) {
  const existing = new Map([...list.children].map((li) => [li.dataset.key, li]));
  let added = false;
  const nodes = items.map((li) => {
    const old = existing.get(li.dataset.key);
    if (old && old.outerHTML === li.outerHTML) return old;
    if (!old) added = true;
    return li;
  });
  nodes.forEach((node, i) => {
    if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null);
  });
  while (list.children.length > nodes.length) list.lastElementChild.remove();
  return added;
}

