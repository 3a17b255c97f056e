// The agents' WhatsApp/SMS inbox: the empty state with the webhook URLs, a
// signed inbound WhatsApp message arriving live, a reply whose delivery
// ticks move with the stand-in's status callbacks, media attachments,
// escalate / close / reopen with the status filter, provider stats, and
// another org's agent seeing none of it.
//
// The files run one after another, in name order, on one stack
// (--test-concurrency=1): this one runs before window-optout, and
// booking-chat makes no inbox conversation, so org_demo's inbox starts empty.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  BASE,
  agedInbound,
  api,
  assertNoPageErrors,
  eventually,
  launch,
  newPage,
  shot,
  signInAs,
  signedInbound,
} from "./helpers.js";

let browser;
const CONTACT = "whatsapp:+15557770001";

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

async function inboxItem(contact) {
  const r = await api("agent_dana", "GET", "/conversations");
  assert.equal(r.status, 200);
  return r.json.items.find((c) => c.inbox && c.inbox.contact_address === contact);
}

test("an agent's empty inbox shows the webhook URLs to paste into Twilio", async () => {
  const page = await newPage(browser);
  await signInAs(page, "agent_dana");
  const help = page.locator("#webhook-help");
  await help.waitFor();
  const urls = await help.locator(".webhook-url").allTextContents();
  assert.deepEqual(urls, [
    `${BASE}/webhooks/twilio/messaging#rc=5&rp=all`,
    `${BASE}/webhooks/twilio/conversations#rc=5&rp=all`,
  ]);
  await shot(page, "inbox-empty.png");
  assertNoPageErrors(page);
  await page.context().close();
});

test("a signed inbound WhatsApp message appears live; the agent replies and sees the delivery ticks move to read", async () => {
  const page = await newPage(browser);
  await signInAs(page, "agent_dana");
  await page.locator("#webhook-help").waitFor();

  // Twilio (the stand-in) posts a signed webhook; ingest → SQS → processor.
  await signedInbound(CONTACT, "Hi! Is Friday 10am still free?");
  const item = page.locator("a.conv-item", { hasText: "Is Friday 10am still free?" });
  await item.waitFor({ timeout: 15000 }); // no reload: the poll picks it up
  assert.match(await item.locator(".conv-title").textContent(), /WhatsApp User/); // the ProfileName
  assert.match(await item.textContent(), /WhatsApp/);
  assert.match(await item.textContent(), /twilio/);
  assert.equal(await item.locator(".unread-badge").textContent(), "1");
  assert.equal(await page.locator("#unread-total").getAttribute("data-count"), "1");

  await item.click();
  await page.locator(".msg.in", { hasText: "Is Friday 10am still free?" }).waitFor();
  const windowBanner = page.locator("#window-state");
  assert.equal(await windowBanner.getAttribute("data-window"), "open");
  assert.match(await windowBanner.textContent(), /24-hour window open: 2[34]h \d+m left/);
  await eventually(async () => (await page.locator("#unread-total").getAttribute("data-count")) === "0", {
    message: "opening the conversation to mark the org's inbox read",
  });

  // Record every delivery state the reply shows, from the first render on.
  await page.evaluate(() => {
    window.__statuses = [];
    const seen = () => {
      const m = document.querySelector(".msg.out[data-message-id]");
      const s = m && m.querySelector(".ticks").dataset.status;
      if (s && window.__statuses[window.__statuses.length - 1] !== s) window.__statuses.push(s);
    };
    new MutationObserver(seen).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  const input = page.locator("#composer-input");
  await input.fill("Yes, Friday 10am is yours.");
  await input.press("Enter");
  const reply = page.locator(".msg.out[data-message-id]", { hasText: "Friday 10am is yours" });
  await reply.waitFor();
  await eventually(async () => (await reply.locator(".ticks").getAttribute("data-status")) === "read", {
    message: "the reply's ticks to reach read",
  });
  const statuses = await page.evaluate(() => window.__statuses);
  assert.ok(statuses.length >= 2, `the ticks moved: ${statuses}`);
  assert.ok(["queued", "sent", "delivered", "accepted", "sending"].includes(statuses[0]), `first shown: ${statuses}`);
  assert.equal(statuses[statuses.length - 1], "read");
  assert.equal(await reply.locator(".msg-author").textContent(), "You");
  assert.doesNotMatch(await page.locator("#detail").innerText(), /^(null|undefined)$/m, "no stray placeholders");
  await shot(page, "inbox-conversation.png");

  const stored = await api("agent_dana", "GET", `/conversations/${(await inboxItem(CONTACT)).id}/messages`);
  const agentMessages = stored.json.messages.filter((m) => m.author_type === "agent");
  assert.equal(agentMessages.length, 1);
  assert.equal(agentMessages[0].status, "read");
  assertNoPageErrors(page);
  await page.context().close();
});

test("media attachments of an inbound message are listed", async () => {
  await agedInbound("whatsapp:+15557770004", "Here is the photo", 0, {
    media: [
      { url: "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME1", content_type: "image/jpeg" },
      { url: "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME2", content_type: "application/pdf" },
    ],
  });
  const conv = await eventually(() => inboxItem("whatsapp:+15557770004"), { message: "the media message to be stored" });
  const page = await newPage(browser);
  await signInAs(page, "agent_dana");
  await page.goto(`${BASE}/#/c/${conv.id}`);
  const msg = page.locator(".msg.in", { hasText: "Here is the photo" });
  await msg.waitFor();
  const links = msg.locator(".attachments li");
  assert.equal(await links.count(), 2);
  assert.match(await links.nth(0).textContent(), /Attachment 1.*image\/jpeg/);
  assert.match(await links.nth(1).textContent(), /Attachment 2.*application\/pdf/);
  assert.equal(
    await links.nth(0).locator("a").getAttribute("href"),
    "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME1",
  );
  assertNoPageErrors(page);
  await page.context().close();
});

test("an agent escalates, closes and reopens a conversation; the status filter and the provider stats follow", async () => {
  const conv = await inboxItem(CONTACT);
  const page = await newPage(browser);
  await signInAs(page, "agent_dana");
  await page.goto(`${BASE}/#/c/${conv.id}`);
  const status = page.locator("#conv-status");
  await status.waitFor();
  assert.equal(await status.getAttribute("data-status"), "active");

  await page.locator('button[data-action="escalated"]').click();
  await eventually(async () => (await status.getAttribute("data-status")) === "escalated", { message: "escalated" });
  assert.equal((await api("agent_dana", "GET", `/conversations/${conv.id}`)).json.status, "escalated");

  // Filter: only escalated conversations.
  await page.locator("#status-filter").selectOption("escalated");
  await eventually(async () => (await page.locator("a.conv-item").count()) === 1, { message: "one escalated conversation" });
  assert.equal(await page.locator("a.conv-item").first().getAttribute("data-conversation-id"), conv.id);
  await page.locator("#status-filter").selectOption("closed");
  await page.locator(".list-body .empty", { hasText: "No closed conversations." }).waitFor();

  await page.locator('button[data-action="closed"]').click();
  await eventually(async () => (await status.getAttribute("data-status")) === "closed", { message: "closed" });
  await page.locator(`a.conv-item[data-conversation-id="${conv.id}"]`).waitFor();
  await page.locator("#status-filter").selectOption("");

  await page.getByRole("button", { name: "Reopen" }).click();
  await eventually(async () => (await status.getAttribute("data-status")) === "active", { message: "reopened" });
  assert.equal((await api("agent_dana", "GET", `/conversations/${conv.id}`)).json.status, "active");

  await page.locator('button[data-action="escalated"]').click();
  await eventually(async () => (await status.getAttribute("data-status")) === "escalated", { message: "escalated again" });

  // Provider statistics.
  await page.locator("#stats-link").click();
  const row = page.locator('tr[data-provider="twilio"]');
  await row.waitFor();
  const stats = (await api("agent_dana", "GET", "/stats/providers")).json.providers.find((p) => p.provider === "twilio");
  const cells = await row.locator("td").allTextContents();
  assert.deepEqual(cells, [String(stats.total), String(stats.active), String(stats.escalated), String(stats.within_24h)]);
  assert.ok(stats.total >= 2 && stats.escalated >= 1, JSON.stringify(stats));
  assert.equal(await page.locator('.stat[data-stat="escalated"] strong').textContent(), String(stats.escalated));
  await shot(page, "inbox-stats.png");
  assertNoPageErrors(page);
  await page.context().close();
});

test("an agent of another org sees none of org_demo's conversations", async () => {
  const page = await newPage(browser);
  await signInAs(page, "agent_omar");
  await page.locator("#webhook-help").waitFor();
  assert.equal(await page.locator("a.conv-item").count(), 0);
  const conv = await inboxItem(CONTACT);
  await page.goto(`${BASE}/#/c/${conv.id}`);
  // Existence is not revealed: the API's 404 message, not a conversation.
  const notFound = page.locator(".detail-pane .empty[role=alert]");
  await notFound.waitFor();
  assert.doesNotMatch(await notFound.textContent(), /[{}]/);
  assert.equal(await page.locator("#conv-title").count(), 0);
  assertNoPageErrors(page);
  await page.context().close();
});
