// One conversation: messages (sender, time, delivery ticks, read receipts,
// media), participants (and who has left), the composer (optimistic send,
// retry with the same Idempotency-Key), and for agents the WhatsApp 24-hour
// window, templates, opt-out and status actions.

import { newIdempotencyKey } from "./api.js";
import { clear, formatDuration, formatTime, h, notify, reconcile, spinner, ticks, timeEl, withProgress } from "./ui.js";

const WINDOW_MS = 24 * 3600 * 1000;
const CONTENT_SID = /^HX[0-9a-fA-F]{32}$/;

/** A conversation's name as the signed-in user sees it. */
export function conversationTitle(c, session) {
  if (c.inbox) return c.inbox.contact_name || c.inbox.contact_address;
  const others = (c.participants || []).filter((p) => p.user_id !== session.userId);
  const names = others.map((p) => p.display_name || p.user_id).join(", ");
  return names || (c.booking_id ? `Booking ${c.booking_id}` : c.id);
}

/** The WhatsApp window: {applies, open, closesAt, remainingMs}. */
export function windowState(inbox, now = Date.now()) {
  if (!inbox || inbox.channel !== "whatsapp") return { applies: false, open: true };
  if (!inbox.last_user_message_at) return { applies: true, open: false, closesAt: null, remainingMs: 0 };
  const closesAt = new Date(inbox.last_user_message_at).getTime() + WINDOW_MS;
  return { applies: true, open: closesAt > now, closesAt, remainingMs: closesAt - now };
}

export class ConversationView {
  constructor({ id, api, session, live, container, onError, onListChanged }) {
    Object.assign(this, { id, api, session, live, container, onError, onListChanged });
    this.conv = null;
    this.messages = [];
    this.horizons = [];
    this.pending = [];
    this.destroyed = false;
    this.marking = false;
    this.windowTimer = null;
    this.draft = "";
    this.templateDraft = null;
    this.parts = null;
    this.olderCursor = null;
    this.loadedOlder = false;
  }

  /** The page before the oldest message shown. */
  async loadOlder(button) {
    await withProgress(
      button,
      "Loading…",
      async () => {
        const page = await this.api.getMessages(this.id, { cursor: this.olderCursor });
        if (this.destroyed) return;
        const list = this.parts.messages;
        const fromBottom = list.scrollHeight - list.scrollTop;
        const known = new Set(this.messages.map((m) => m.id));
        const older = [...page.messages].reverse().filter((m) => !known.has(m.id));
        this.messages = [...older, ...this.messages];
        this.olderCursor = page.next_cursor || null;
        this.loadedOlder = true;
        this.render();
        list.scrollTop = list.scrollHeight - fromBottom; // keep the reader's place
      },
      (e) => this.onError(e),
    );
  }

  start() {
    clear(this.container).append(spinner("Loading conversation…"));
    this.live.watch("conversation", this.id);
    this.reload().catch((e) => {
      if (e.status === 404) {
        clear(this.container).append(h("p", { class: "empty", role: "alert" }, e.message));
      } else this.onError(e);
    });
  }

  destroy() {
    this.destroyed = true;
    clearTimeout(this.windowTimer);
    this.live.unwatch("conversation", this.id);
  }

  async reload() {
    const [conv, page] = await Promise.all([this.api.getConversation(this.id), this.api.getMessages(this.id)]);
    if (this.destroyed) return;
    this.live.seen("conversation", this.id, conv, page);
    this.conv = conv;
    const latest = [...page.messages].reverse(); // desc page → oldest first
    if (!this.loadedOlder) this.olderCursor = page.next_cursor || null;
    // Once the user loaded older pages, everything shown before the newest
    // page stays above it (the newest page slides as messages arrive).
    if (this.loadedOlder && latest.length) {
      const ids = new Set(latest.map((m) => m.id));
      const first = latest[0].created_at;
      const kept = this.messages.filter((m) => !ids.has(m.id) && m.created_at <= first);
      this.messages = [...kept, ...latest];
    } else {
      this.messages = latest;
    }
    this.horizons = page.read_horizons || [];
    this.render();
    this.maybeMarkRead();
  }

  get isAgent() {
    return this.session.userType === "agent";
  }

  /** Mark read when the conversation is on screen and something is unread. */
  async maybeMarkRead() {
    if (this.marking || document.visibilityState !== "visible" || !this.conv) return;
    const newest = this.messages[this.messages.length - 1];
    if (!newest) return;
    const mine = this.horizons.find((x) => x.user_id === this.session.userId);
    const unread = this.conv.unread_count > 0;
    const behind = !this.conv.inbox && mine && mine.last_read_message_id !== newest.id && newest.author_id !== this.session.userId;
    if (!unread && !behind) return;
    this.marking = true;
    try {
      await this.api.markRead(this.id);
      this.conv.unread_count = 0;
      this.onListChanged();
    } catch (e) {
      if (e.status !== 403) this.onError(e);
    } finally {
      this.marking = false;
    }
  }

  participantName(userId) {
    const p = this.conv.participants.find((x) => x.user_id === userId);
    if (p) return p.display_name || p.user_id;
    if (this.conv.inbox && this.conv.inbox.contact_address === userId) return this.conv.inbox.contact_name || userId;
    return userId;
  }

  /**
   * Render in place: each part (head, banners, participants, composer) is
   * replaced only when it changed, and messages are reconciled by key, so
   * focus, typed text, scroll position and screen-reader announcements
   * survive live refreshes.
   */
  render() {
    const c = this.conv;
    const old = this.parts;
    if (old) {
      const input = old.composer.querySelector("#composer-input");
      if (input) this.draft = input.value;
      const sidIn = old.composer.querySelector("#template-sid");
      if (sidIn) {
        this.templateDraft = {
          sid: sidIn.value,
          vars: old.composer.querySelector("#template-vars").value,
          open: old.composer.querySelector("details.templates").open,
        };
      }
    }

    const title = conversationTitle(c, this.session);
    const head = h(
      "div",
      { class: "pane-head conv-head" },
      h("a", { href: "#/", class: "back button secondary", "aria-label": "Back to conversations" }, "←"),
      h(
        "div",
        { class: "conv-head-text" },
        h("h2", { id: "conv-title" }, title),
        h(
          "p",
          { class: "sub" },
          c.inbox
            ? `${c.inbox.channel === "whatsapp" ? "WhatsApp" : "SMS"} ${c.inbox.contact_address} → ${c.inbox.business_address} · ${c.inbox.provider}`
            : c.booking_id
              ? `Booking ${c.booking_id}`
              : c.type,
          " · ",
          h("span", { class: `tag status-${c.status}`, id: "conv-status", "data-status": c.status }, c.status),
        ),
      ),
      this.isAgent && c.inbox ? this.statusActions() : null,
    );
    const banners = h("div", { class: "banners" }, this.banners());
    const people = this.participantsPanel() || h("div", { class: "participants-none", hidden: true });
    if (old && old.people.open) people.open = true;
    const composer = this.composer();
    const items = [
      ...(this.olderCursor
        ? [
            h(
              "li",
              { class: "older", dataset: { key: "older" } },
              h("button", { type: "button", class: "secondary small", id: "load-older", onclick: (e) => this.loadOlder(e.currentTarget) }, "Load older messages"),
            ),
          ]
        : []),
      ...(this.messages.length || this.pending.length
        ? []
        : [h("li", { class: "empty", dataset: { key: "empty" } }, "No messages yet. Say hello!")]),
      ...this.messages.map((m, i) => this.messageItem(m, i)),
      ...this.pending.map((p) => this.pendingItem(p)),
    ];

    if (!old) {
      const messages = h("ol", {
        class: "messages",
        role: "log",
        "aria-live": "polite",
        "aria-label": "Messages",
        tabindex: "0",
      });
      this.parts = { head, banners, people, messages, composer };
      clear(this.container).append(head, banners, people, messages, composer);
      this.container.setAttribute("aria-labelledby", "conv-title");
      reconcile(messages, items);
      messages.scrollTop = messages.scrollHeight;
    } else {
      const list = old.messages;
      const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      for (const [name, el] of Object.entries({ head, banners, people, composer })) {
        if (old[name].outerHTML !== el.outerHTML) {
          const hadFocus = old[name].contains(document.activeElement) ? document.activeElement.id : null;
          old[name].replaceWith(el);
          old[name] = el;
          if (hadFocus) {
            const again = el.querySelector("#" + hadFocus);
            if (again && !again.disabled) again.focus();
          }
        }
      }
      const grew = reconcile(list, items);
      if (grew && atBottom) list.scrollTop = list.scrollHeight;
    }
    this.scheduleWindowRefresh();
  }

  scheduleWindowRefresh() {
    clearTimeout(this.windowTimer);
    const w = windowState(this.conv.inbox);
    if (!w.applies || !w.open) return;
    // Re-render the time left every minute, and exactly when it closes.
    this.windowTimer = setTimeout(() => !this.destroyed && this.render(), Math.min(60000, w.remainingMs + 50));
  }

  statusActions() {
    const s = this.conv.status;
    const actions = [];
    if (s === "active") actions.push(["escalated", "Escalate"], ["closed", "Close"]);
    if (s === "escalated") actions.push(["active", "De-escalate"], ["closed", "Close"]);
    if (s === "closed") actions.push(["active", "Reopen"]);
    return h(
      "div",
      { class: "actions", role: "group", "aria-label": "Conversation status" },
      actions.map(([to, label]) => {
        const b = h(
          "button",
          {
            type: "button",
            class: "secondary",
            dataset: { action: to },
            onclick: () =>
              withProgress(
                b,
                "Saving…",
                async () => {
                  const updated = await this.api.updateStatus(this.id, to);
                  this.conv = { ...this.conv, ...updated };
                  notify(`Conversation ${to === "active" ? "reopened" : to}.`, "info");
                  this.onListChanged();
                  await this.reload();
                },
                (e) => this.onError(e),
              ),
          },
          label,
        );
        return b;
      }),
    );
  }

  banners() {
    const c = this.conv;
    const out = [];
    if (c.inbox) {
      if (c.inbox.opted_out) {
        out.push(
          h(
            "div",
            { class: "banner banner-warn", id: "opted-out", role: "status" },
            h("strong", {}, "Opted out. "),
            `${c.inbox.contact_name || c.inbox.contact_address} sent STOP: replies are disabled until they send START.`,
          ),
        );
      }
      const w = windowState(c.inbox);
      if (w.applies) {
        out.push(
          w.open
            ? h(
                "div",
                { class: "banner banner-ok", id: "window-state", "data-window": "open" },
                h("strong", {}, "24-hour window open: "),
                `${formatDuration(w.remainingMs)} left (until ${formatTime(new Date(w.closesAt).toISOString())}).`,
              )
            : h(
                "div",
                { class: "banner banner-closed", id: "window-state", "data-window": "closed", role: "status" },
                h("strong", {}, "24-hour window closed"),
                w.closesAt ? ` at ${formatTime(new Date(w.closesAt).toISOString())}. ` : ". ",
                "WhatsApp allows only a template until the contact writes again.",
              ),
        );
      } else {
        out.push(h("div", { class: "banner", id: "window-state", "data-window": "none" }, "SMS: no 24-hour window."));
      }
    } else if (c.status === "closed") {
      out.push(h("div", { class: "banner banner-closed", role: "status" }, "This chat is closed."));
    }
    return out;
  }

  participantsPanel() {
    const ps = this.conv.participants || [];
    if (this.conv.inbox && !ps.length) return null;
    const active = ps.filter((p) => p.is_active).length;
    return h(
      "details",
      { class: "participants" },
      h("summary", {}, `Participants (${active} active${ps.length > active ? `, ${ps.length - active} left` : ""})`),
      h(
        "ul",
        { "aria-label": "Participants" },
        ps.map((p) =>
          h(
            "li",
            { class: p.is_active ? "" : "left", dataset: { userId: p.user_id, active: String(p.is_active) } },
            h("span", {}, p.display_name || p.user_id),
            h("span", { class: "tag" }, p.user_type),
            p.is_active ? null : h("span", { class: "tag tag-warn" }, "left ", p.left_at ? formatTime(p.left_at) : ""),
            p.user_id === this.session.userId ? h("span", { class: "tag" }, "you") : null,
          ),
        ),
      ),
    );
  }

  /** Who (other than the author) has read up to message `i`. */
  readersOf(m, i) {
    const readers = [];
    for (const hz of this.horizons) {
      if (hz.user_id === m.author_id || !hz.last_read_message_id) continue;
      const idx = this.messages.findIndex((x) => x.id === hz.last_read_message_id);
      const read = idx >= 0 ? idx >= i : hz.last_read_at && hz.last_read_at >= m.created_at;
      if (read) readers.push(this.participantName(hz.user_id));
    }
    return readers;
  }

  messageItem(m, i) {
    const mine = m.author_id === this.session.userId;
    const outbound = mine || m.author_type === "agent";
    const author = mine ? "You" : this.participantName(m.author_id);
    const readers = this.conv.inbox ? [] : this.readersOf(m, i);
    const media = Array.isArray(m.media) ? m.media : [];
    return h(
      "li",
      {
        class: "msg " + (outbound ? "out" : "in"),
        dataset: { key: m.id, messageId: m.id, status: m.status, author: m.author_id },
      },
      h("div", { class: "msg-meta" }, h("span", { class: "msg-author" }, author), timeEl(m.created_at)),
      m.body ? h("p", { class: "msg-body" }, m.body) : null,
      m.template
        ? h("p", { class: "msg-template" }, `Template ${m.template.content_sid || ""}`, m.template.content_variables ? ` ${JSON.stringify(m.template.content_variables)}` : "")
        : null,
      media.length
        ? h(
            "ul",
            { class: "attachments", "aria-label": "Attachments" },
            media.map((a, k) =>
              h(
                "li",
                {},
                /^https?:\/\//i.test(a.url || "")
                  ? h("a", { href: a.url, target: "_blank", rel: "noopener noreferrer" }, `Attachment ${k + 1}`)
                  : h("span", {}, `Attachment ${k + 1}`),
                a.content_type ? h("span", { class: "tag" }, a.content_type) : null,
              ),
            ),
          )
        : null,
      m.location ? h("p", { class: "msg-extra" }, `Location: ${m.location.latitude}, ${m.location.longitude}${m.location.label ? " (" + m.location.label + ")" : ""}`) : null,
      m.button ? h("p", { class: "msg-extra" }, `Button: ${m.button.text || m.button.payload || ""}`) : null,
      outbound
        ? h(
            "div",
            { class: "msg-state" },
            ticks(readers.length ? "read" : m.status),
            h("span", { class: "state-text" }, readers.length ? `Read by ${readers.join(", ")}` : m.status),
            m.error_code ? h("span", { class: "tag tag-warn" }, `error ${m.error_code}`) : null,
          )
        : null,
    );
  }

  pendingItem(p) {
    const retry = h(
      "button",
      { type: "button", class: "secondary small", onclick: () => this.attempt(p), "aria-label": "Retry sending" },
      "Retry",
    );
    return h(
      "li",
      { class: "msg out pending" + (p.state === "failed" ? " failed" : ""), dataset: { key: "p:" + p.key, pendingKey: p.key, status: p.state } },
      h("div", { class: "msg-meta" }, h("span", { class: "msg-author" }, "You"), timeEl(p.at)),
      h("p", { class: "msg-body" }, p.label),
      p.state === "failed"
        ? h("div", { class: "msg-state", role: "alert" }, ticks("failed"), h("span", { class: "state-text" }, `Not sent: ${p.error}`), retry)
        : h("div", { class: "msg-state" }, ticks("pending"), h("span", { class: "state-text" }, "Sending…")),
    );
  }

  composer() {
    const c = this.conv;
    const w = windowState(c.inbox);
    const optedOut = c.inbox && c.inbox.opted_out;
    const closedChat = !c.inbox && c.status === "closed";
    const iAmActive = c.inbox ? this.isAgent : (c.participants || []).some((p) => p.user_id === this.session.userId && p.is_active);
    const freeFormAllowed = !optedOut && !closedChat && iAmActive && w.open;
    const input = h("textarea", {
      id: "composer-input",
      rows: 2,
      "aria-label": "Message",
      placeholder: optedOut
        ? "Replies are disabled: the contact opted out"
        : closedChat
          ? "This chat is closed"
          : !w.open
            ? "The 24-hour window is closed: send a template"
            : "Write a message (Enter sends, Shift+Enter new line)",
      disabled: !freeFormAllowed,
      maxlength: 1600,
      onkeydown: (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          form.requestSubmit();
        }
      },
    });
    input.value = freeFormAllowed ? this.draft : "";
    const send = h("button", { type: "submit", class: "primary", disabled: !freeFormAllowed, id: "send-button" }, "Send");
    const form = h(
      "form",
      {
        class: "composer-row",
        "aria-label": "Send a message",
        onsubmit: (e) => {
          e.preventDefault();
          const body = input.value;
          if (!body.trim()) return;
          input.value = "";
          this.draft = "";
          this.send({ body }, body);
        },
      },
      input,
      send,
    );
    const parts = [form];
    if (c.inbox && c.inbox.channel === "whatsapp" && !optedOut) parts.push(this.templateForm(!w.open));
    return h("div", { class: "composer" }, parts);
  }

  templateForm(open) {
    const sid = h("input", {
      id: "template-sid",
      type: "text",
      placeholder: "HX0123456789abcdef0123456789abcdef",
      spellcheck: "false",
      autocomplete: "off",
      "aria-describedby": "template-help",
    });
    const vars = h("textarea", { id: "template-vars", rows: 2, spellcheck: "false", placeholder: '{"1": "Ana"}' });
    const err = h("p", { class: "form-error", role: "alert", id: "template-error" });
    if (this.templateDraft) {
      sid.value = this.templateDraft.sid;
      vars.value = this.templateDraft.vars;
    }
    const form = h(
      "form",
      {
        class: "template-form",
        "aria-label": "Send a WhatsApp template",
        onsubmit: (e) => {
          e.preventDefault();
          err.textContent = "";
          const contentSid = sid.value.trim();
          if (!CONTENT_SID.test(contentSid)) {
            err.textContent = "The Content SID is HX followed by 32 hexadecimal characters.";
            sid.focus();
            return;
          }
          let variables;
          if (vars.value.trim()) {
            try {
              variables = JSON.parse(vars.value);
            } catch {
              err.textContent = 'Variables must be JSON, e.g. {"1": "Ana"}.';
              vars.focus();
              return;
            }
            const ok = variables && typeof variables === "object" && !Array.isArray(variables) && Object.values(variables).every((v) => typeof v === "string");
            if (!ok) {
              err.textContent = 'Variables must be a JSON object of strings, e.g. {"1": "Ana"}.';
              vars.focus();
              return;
            }
          }
          const payload = { content_sid: contentSid };
          if (variables) payload.content_variables = variables;
          sid.value = "";
          vars.value = "";
          this.templateDraft = null;
          this.send(payload, `Template ${contentSid}${variables ? " " + JSON.stringify(variables) : ""}`);
        },
      },
      h("label", { for: "template-sid" }, "Content SID"),
      sid,
      h("label", { for: "template-vars" }, "Variables (JSON)"),
      vars,
      h("p", { class: "help", id: "template-help" }, "An approved WhatsApp template from Twilio's Content API; allowed outside the 24-hour window."),
      err,
      h("button", { type: "submit", class: open ? "primary" : "secondary", id: "template-send" }, "Send template"),
    );
    const expanded = open || (this.templateDraft && this.templateDraft.open);
    return h("details", { class: "templates", open: expanded || null }, h("summary", {}, open ? "Send a template (window closed)" : "Send a template instead"), form);
  }

  /** Optimistic send: shown at once, retried with the same key on failure. */
  send(payload, label) {
    const p = { key: newIdempotencyKey(), payload, label, at: new Date().toISOString(), state: "sending", error: null };
    this.pending.push(p);
    this.attempt(p);
  }

  async attempt(p) {
    p.state = "sending";
    p.error = null;
    this.render();
    try {
      const m = await this.api.sendMessage(this.id, p.payload, p.key);
      this.pending = this.pending.filter((x) => x !== p);
      if (!this.messages.some((x) => x.id === m.id)) this.messages.push(m);
      this.render();
      this.onListChanged();
      this.reload().catch(this.onError);
    } catch (e) {
      if (e.status === 401) return this.onError(e);
      p.state = "failed";
      p.error = e.message;
      this.render();
    }
  }
}
