// Where "something changed" comes from. Views subscribe to scopes and get
// `change` events; they never poll themselves:
//   { scope: "list" }                                  the conversation list or unread total
//   { scope: "conversation", conversationId: "conv_…" } messages, statuses, read horizons,
//                                                      participants, status of one conversation
// Today the source polls the HTTP API while the page is visible. The
// WebSocket source (DESIGN.md §10) will implement the same interface,
// mapping its `{type, conversation_id}` events onto these scopes.

export const POLL_INTERVAL_MS = 2500;

/** Fingerprints of what a view shows; a change of fingerprint is an event. */
function listFingerprint(page, unread) {
  const items = (page && page.items) || [];
  return JSON.stringify([
    unread && unread.unread_count,
    items.map((c) => [c.id, c.status, c.unread_count, c.last_activity_at, c.last_message && c.last_message.id, c.inbox && c.inbox.opted_out]),
  ]);
}

function conversationFingerprint(conv, page) {
  return JSON.stringify([
    conv.status,
    conv.inbox && [conv.inbox.opted_out, conv.inbox.last_user_message_at],
    conv.participants.map((p) => [p.user_id, p.is_active, p.last_read_message_id]),
    (page.messages || []).map((m) => [m.id, m.status]),
    (page.read_horizons || []).map((h) => [h.user_id, h.last_read_message_id]),
  ]);
}

export class PollingSource extends EventTarget {
  constructor(api, { intervalMs = POLL_INTERVAL_MS } = {}) {
    super();
    this.api = api;
    this.intervalMs = intervalMs;
    this.watchList = false;
    this.conversations = new Set();
    this.prints = new Map();
    this.timer = null;
    this.running = false;
    this.onVisibility = () => {
      if (document.visibilityState === "visible") this.tick();
    };
  }

  start() {
    if (this.running) return;
    this.running = true;
    document.addEventListener("visibilitychange", this.onVisibility);
    this.schedule();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    document.removeEventListener("visibilitychange", this.onVisibility);
  }

  /** Watch the list (and unread total) / one conversation. */
  watch(scope, conversationId) {
    if (scope === "list") this.watchList = true;
    else this.conversations.add(conversationId);
  }

  unwatch(scope, conversationId) {
    if (scope === "list") this.watchList = false;
    else {
      this.conversations.delete(conversationId);
      this.prints.delete("c:" + conversationId);
    }
  }

  /** What the view has just loaded, so the next poll only reports real changes. */
  seen(scope, conversationId, ...data) {
    if (scope === "list") this.prints.set("list", listFingerprint(...data));
    else this.prints.set("c:" + conversationId, conversationFingerprint(...data));
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.running) return;
    this.timer = setTimeout(() => this.tick(), this.intervalMs);
  }

  emit(detail) {
    this.dispatchEvent(new CustomEvent("change", { detail }));
  }

  async tick() {
    if (!this.running) return;
    if (this.busy) return;
    if (document.visibilityState !== "visible") {
      this.schedule();
      return;
    }
    this.busy = true;
    try {
      const jobs = [];
      if (this.watchList) {
        jobs.push(
          Promise.all([this.api.listConversations(), this.api.unread()]).then(([page, unread]) => {
            const fp = listFingerprint(page, unread);
            if (this.prints.get("list") !== fp) {
              this.prints.set("list", fp);
              this.emit({ scope: "list" });
            }
          }),
        );
      }
      for (const id of this.conversations) {
        jobs.push(
          Promise.all([this.api.getConversation(id), this.api.getMessages(id)]).then(([conv, page]) => {
            const key = "c:" + id;
            const fp = conversationFingerprint(conv, page);
            if (this.conversations.has(id) && this.prints.get(key) !== fp) {
              this.prints.set(key, fp);
              this.emit({ scope: "conversation", conversationId: id });
            }
          }),
        );
      }
      const results = await Promise.allSettled(jobs);
      const failed = results.find((r) => r.status === "rejected");
      this.dispatchEvent(new CustomEvent("health", { detail: { ok: !failed, error: failed && failed.reason } }));
    } finally {
      this.busy = false;
      this.schedule();
    }
  }
}
