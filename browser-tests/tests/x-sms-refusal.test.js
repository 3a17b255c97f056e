// SMS conversations (no 24-hour window, no templates) and a Twilio refusal
// of a reply shown as the API's message.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { BASE, api, assertNoPageErrors, eventually, launch, newPage, signInAs, signedInbound } from "./helpers.js";

let browser;
const SMS_NUMBER = "+15550001112";

before(async () => {
  browser = await launch();
  // The platform (a service token) registers org_demo's SMS number; org
  // admins may not claim numbers themselves.
  const r = await api("booking-system", "POST", "/chat-accounts", { address: SMS_NUMBER, org_id: "org_demo" });
  assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.json));
});

after(async () => {
  await browser?.close();
});

async function inboxConversation(contact) {
  return eventually(
    async () => {
      const r = await api("agent_dana", "GET", "/conversations");
      return r.json.items.find((c) => c.inbox && c.inbox.contact_address === contact);
    },
    { message: `the conversation with ${contact}` },
  );
}

test("an SMS conversation has no 24-hour window and no template picker; replies get ticks", async () => {
  const contact = "+15557770009";
  await signedInbound(contact, "Running late, 10 min", SMS_NUMBER);
  const conv = await inboxConversation(contact);
  assert.equal(conv.inbox.channel, "sms");

  const page = await newPage(browser);
  await signInAs(page, "agent_dana");
  const item = page.locator(`a.conv-item[data-conversation-id="${conv.id}"]`);
  await item.waitFor();
  assert.match(await item.textContent(), /SMS/);
  await item.click();
  const banner = page.locator("#window-state");
  await banner.waitFor();
  assert.equal(await banner.getAttribute("data-window"), "none");
  assert.match(await banner.textContent(), /SMS: no 24-hour window/);
  assert.equal(await page.locator("details.templates").count(), 0);

  const input = page.locator("#composer-input");
  await input.fill("No problem, see you soon.");
  await input.press("Enter");
  const reply = page.locator(".msg.out[data-message-id]", { hasText: "see you soon" });
  await reply.waitFor();
  // SMS has no read receipts: the stand-in reports sent, then delivered.
  await eventually(async () => (await reply.locator(".ticks").getAttribute("data-status")) === "delivered", {
    message: "the SMS reply to be delivered",
  });
  assertNoPageErrors(page);
  await page.context().close();
});

test("a reply Twilio refuses (invalid number) is shown as failed with the API's message", async () => {
  // Twilio's magic invalid number: the stand-in refuses it with 21211.
  const contact = "whatsapp:+15005550001";
  await signedInbound(contact, "hello");
  const conv = await inboxConversation(contact);
  const page = await newPage(browser);
  await signInAs(page, "agent_dana");
  await page.goto(`${BASE}/#/c/${conv.id}`);
  const input = page.locator("#composer-input");
  await input.waitFor();
  await input.fill("Hi there");
  await input.press("Enter");
  const failed = page.locator(".msg.pending.failed", { hasText: "Hi there" });
  await failed.waitFor();
  const refused = await api("agent_dana", "POST", `/conversations/${conv.id}/messages`, { body: "Hi there" });
  assert.equal(refused.status, 422);
  assert.equal(refused.json.error.code, "invalid_recipient");
  const text = await failed.textContent();
  assert.ok(text.includes(`Not sent: ${refused.json.error.message}`), text);
  assert.doesNotMatch(text, /[{}]/);
  assert.equal(await failed.getByRole("button", { name: "Retry sending" }).count(), 1);
  const stored = await api("agent_dana", "GET", `/conversations/${conv.id}/messages`);
  assert.equal(stored.json.messages.filter((m) => m.author_type === "agent").length, 0, "nothing stored");
  assertNoPageErrors(page);
  await page.context().close();
});
