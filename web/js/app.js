// The web client: sign-in, the conversation list (booking chats for
// customers and providers, the org inbox for agents), one conversation,
// and the agents' provider statistics. Hash routes: #/c/<id>, #/stats.

import { apiBase, createApi, fetchDevTokens } from "./api.js";
import { PollingSource } from "./live.js";
import { clearSession, loadSession, saveSession, sessionOf } from "./session.js";
import { clear, h, notify, reconcile, spinner, timeEl, withProgress } from "./ui.js";
import { ConversationView, conversationTitle } from "./conversation.js";
import { renderStats } from "./stats.js";

const main = document.getElementById("main");
const who = document.getElementById("who");

let app = null; // the signed-in app state

// ---- sign-in -------------------------------------------------------------

async function renderSignIn(error) {
  stopApp();
  clear(who);
  document.body.className = "signed-out";
  const errorBox = h("p", { class: "form-error", role: "alert", id: "signin-error" }, error || "");
  const tokenInput = h("textarea", {
    id: "token",
    name: "token",
    rows: 4,
    required: true,
    spellcheck: "false",
    autocomplete: "off",
    placeholder: "eyJhbGciOiJIUzI1NiIs…",
    "aria-describedby": "token-help",
  });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    {
      class: "card",
      "aria-labelledby": "paste-title",
      onsubmit: (e) => {
        e.preventDefault();
        const t = tokenInput.value.trim();
        if (!t) {
          errorBox.textContent = "Paste an access token first.";
          return;
        }
        signIn(sessionOf(t), submit, errorBox);
      },
    },
    h("h3", { id: "paste-title" }, "Sign in with an access token"),
    h("label", { for: "token" }, "Access token (JWT)"),
    tokenInput,
    h(
      "p",
      { id: "token-help", class: "help" },
      "The JWT your identity provider (e.g. Supabase) issued for you. It stays in this tab only.",
    ),
    submit,
  );
  const demo = h("div", { class: "card demo-users", "aria-labelledby": "demo-title", role: "group" }, spinner("Looking for demo users…"));
  clear(main).append(
    h(
      "section",
      { class: "signin", "aria-labelledby": "signin-title" },
      h("h2", { id: "signin-title" }, "Sign in"),
      errorBox,
      demo,
      form,
    ),
  );
  const users = await fetchDevTokens();
  clear(demo);
  if (users && users.length) {
    demo.append(
      h("h3", { id: "demo-title" }, "Demo users (local dev only)"),
      h("p", { class: "help" }, "Served by the local gateway (make run); never part of a deployment."),
      h(
        "ul",
        { class: "user-list" },
        users
          .filter((u) => u.user_type !== "service")
          .map((u) => {
            const b = h(
              "button",
              {
                type: "button",
                class: "user-button",
                dataset: { userId: u.user_id },
                onclick: () => signIn(sessionOf(u.token, u.display_name), b, errorBox),
              },
              h("strong", {}, u.display_name),
              h("span", {}, u.label.replace(/^[^,]*,\s*/, "")),
            );
            return h("li", {}, b);
          }),
      ),
    );
  } else {
    demo.remove();
  }
}

async function signIn(session, button, errorBox) {
  errorBox.textContent = "";
  await withProgress(
    button,
    "Signing in…",
    async () => {
      // The API is the judge of the token: one cheap call.
      await createApi(session.token).unread();
      saveSession(session);
      startApp(session);
    },
    (e) => {
      errorBox.textContent = e.message;
    },
  );
}

function signOut(message) {
  clearSession();
  history.replaceState(null, "", location.pathname + location.search);
  renderSignIn(message);
}

// ---- the signed-in app ---------------------------------------------------

function stopApp() {
  if (!app) return;
  app.live.stop();
  if (app.view) app.view.destroy();
  window.removeEventListener("hashchange", app.onHash);
  app = null;
}

function handleError(e) {
  if (e && e.status === 401) {
    signOut(e.message);
    return;
  }
  notify(e && e.message ? e.message : String(e));
}

function startApp(session) {
  stopApp();
  const api = createApi(session.token);
  const live = new PollingSource(api);
  const isAgent = session.userType === "agent";
  document.body.className = "signed-in " + (isAgent ? "mode-inbox" : "mode-booking");

  clear(who).append(
    h("span", { class: "who-name" }, session.name || session.userId),
    h("span", { class: "who-role" }, isAgent ? `agent · ${session.orgId || "no org"}` : session.userType),
    h("button", { type: "button", class: "secondary", onclick: () => signOut() }, "Sign out"),
  );

  const unreadTotal = h("span", { class: "badge total", id: "unread-total", "aria-label": "Total unread", hidden: true });
  const filter = h(
    "select",
    { id: "status-filter", "aria-label": "Filter by status", onchange: () => renderList() },
    h("option", { value: "" }, "All statuses"),
    h("option", { value: "active" }, "Active"),
    h("option", { value: "escalated" }, "Escalated"),
    h("option", { value: "closed" }, "Closed"),
  );
  const listBody = h("div", { class: "list-body" }, spinner("Loading conversations…"));
  const listPane = h(
    "section",
    { class: "pane list-pane", "aria-labelledby": "list-title" },
    h(
      "div",
      { class: "pane-head" },
      h("h2", { id: "list-title" }, isAgent ? "Inbox" : "My conversations"),
      unreadTotal,
      isAgent ? h("a", { href: "#/stats", class: "button secondary", id: "stats-link" }, "Stats") : null,
    ),
    isAgent ? h("div", { class: "filters" }, filter) : null,
    listBody,
  );
  const detail = h("section", { class: "pane detail-pane", "aria-label": "Conversation", id: "detail" });
  clear(main).append(h("div", { class: "layout" }, listPane, detail));

  app = { session, api, live, isAgent, items: null, view: null, listBody, unreadTotal, filter, detail, onHash: () => route() };

  async function refreshList() {
    const [page, unread] = await Promise.all([api.listConversations(), api.unread()]);
    if (!app) return;
    live.seen("list", null, page, unread);
    app.items = page.items;
    const n = unread.unread_count || 0;
    unreadTotal.textContent = n > 99 ? "99+" : String(n);
    unreadTotal.hidden = n === 0;
    unreadTotal.setAttribute("aria-label", `${n} unread in total`);
    unreadTotal.dataset.count = String(n);
    document.title = n ? `(${n}) Messages` : "Messages";
    renderList();
  }
  app.refreshList = () => refreshList().catch(handleError);

  live.addEventListener("change", (e) => {
    if (!app) return;
    const d = e.detail;
    if (d.scope === "list") app.refreshList();
    else if (app.view && app.view.id === d.conversationId) app.view.reload().catch(handleError);
  });
  const connection = h("span", { class: "connection", role: "status", id: "connection" });
  who.prepend(connection);
  live.addEventListener("health", (e) => {
    const err = e.detail.error;
    if (err && err.status === 401) return handleError(err);
    // Polls that fail (offline, server down) are retried; say so meanwhile.
    connection.textContent = err && err.status === 0 ? "Reconnecting…" : "";
  });
  live.watch("list");
  window.addEventListener("hashchange", app.onHash);
  live.start();
  app.refreshList().then(() => route());
}

function renderList() {
  if (!app || !app.items) return;
  const { listBody, isAgent, session } = app;
  const status = isAgent ? app.filter.value : "";
  const items = app.items.filter((c) => !status || c.status === status);
  const current = currentConversationId();
  if (!app.items.length || !items.length) {
    clear(listBody).append(
      !app.items.length
        ? isAgent
          ? webhookHelp()
          : h("p", { class: "empty" }, "No conversations yet. A chat opens when a booking is confirmed.")
        : h("p", { class: "empty" }, `No ${status} conversations.`),
    );
    return;
  }
  let ul = listBody.querySelector("ul.conv-list");
  if (!ul) {
    ul = h("ul", { class: "conv-list", "aria-label": "Conversations, newest first" });
    clear(listBody).append(ul);
  }
  // Keyed by conversation: unchanged rows (and the focus in them) stay.
  reconcile(
    ul,
    items.map((c) => {
      const title = conversationTitle(c, session);
      const preview = c.last_message ? c.last_message.preview || "(template or attachment)" : "No messages yet";
      const unread = c.unread_count || 0;
      return h(
        "li",
        { dataset: { key: c.id } },
        h(
          "a",
          {
            href: `#/c/${c.id}`,
            class: "conv-item" + (unread ? " unread" : ""),
            "aria-current": c.id === current ? "true" : null,
            dataset: { conversationId: c.id, status: c.status },
            "aria-label": `${title}${unread ? `, ${unread} unread` : ""}${c.status !== "active" ? `, ${c.status}` : ""}`,
          },
          h(
            "div",
            { class: "conv-line" },
            h("span", { class: "conv-title" }, title),
            timeEl(c.last_activity_at),
          ),
          h(
            "div",
            { class: "conv-line" },
            h("span", { class: "conv-preview" }, preview),
            unread ? h("span", { class: "badge unread-badge", "aria-hidden": "true" }, unread > 99 ? "99+" : String(unread)) : null,
          ),
          h(
            "div",
            { class: "conv-tags" },
            c.inbox
              ? [
                  h("span", { class: "tag" }, c.inbox.channel === "whatsapp" ? "WhatsApp" : c.inbox.channel.toUpperCase()),
                  h("span", { class: "tag" }, c.inbox.provider),
                  c.inbox.opted_out ? h("span", { class: "tag tag-warn" }, "opted out") : null,
                ]
              : c.booking_id
                ? h("span", { class: "tag" }, `booking ${c.booking_id}`)
                : null,
            h("span", { class: `tag status-${c.status}` }, c.status),
          ),
        ),
      );
    }),
  );
}

function webhookHelp() {
  const base = apiBase();
  const urls = [
    ["Incoming messages and status callbacks", `${base}/webhooks/twilio/messaging#rc=5&rp=all`],
    ["Conversations post-event webhook", `${base}/webhooks/twilio/conversations#rc=5&rp=all`],
  ];
  return h(
    "div",
    { class: "empty webhook-help", id: "webhook-help" },
    h("h3", {}, "No conversations yet"),
    h(
      "p",
      {},
      "Messages from your customers appear here once Twilio sends them. Paste these URLs into the Twilio console (your number's or Messaging Service's webhook and status callback, and the Conversations post-event webhook):",
    ),
    h(
      "dl",
      {},
      urls.map(([label, url]) => [
        h("dt", {}, label),
        h(
          "dd",
          {},
          h("code", { class: "webhook-url" }, url),
          h(
            "button",
            {
              type: "button",
              class: "secondary small",
              "aria-label": `Copy: ${label}`,
              onclick: () => navigator.clipboard && navigator.clipboard.writeText(url).then(() => notify("Copied", "info")),
            },
            "Copy",
          ),
        ),
      ]),
    ),
    h("p", { class: "help" }, "#rc=5&rp=all makes Twilio retry on failures. The number must be registered to your org by the platform (POST /chat-accounts, service token)."),
  );
}

function currentConversationId() {
  const m = location.hash.match(/^#\/c\/([A-Za-z0-9_]+)$/);
  return m ? m[1] : null;
}

function route() {
  if (!app) return;
  const id = currentConversationId();
  if (app.view && app.view.id !== id) {
    app.view.destroy();
    app.view = null;
  }
  document.body.classList.toggle("has-detail", Boolean(id) || location.hash === "#/stats");
  renderList();
  if (location.hash === "#/stats" && app.isAgent) {
    renderStats(app.detail, app.api).catch(handleError);
    return;
  }
  if (!id) {
    clear(app.detail).append(
      h("div", { class: "placeholder" }, app.items && app.items.length ? "Choose a conversation." : ""),
    );
    return;
  }
  if (app.view) return;
  app.view = new ConversationView({
    id,
    api: app.api,
    session: app.session,
    live: app.live,
    container: app.detail,
    onError: handleError,
    onListChanged: () => app && app.refreshList(),
  });
  app.view.start();
}

// ---- boot ----------------------------------------------------------------

const saved = loadSession();
if (saved) startApp(saved);
else renderSignIn();
