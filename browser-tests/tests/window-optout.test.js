// WhatsApp rules in the agent's conversation view: a closed 24-hour window
// allows only a template (Content SID + variables), and an opted-out
// contact (inbound STOP) disables replying altogether.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { BASE, agedInbound, api, assertNoPageErrors, eventually, launch, newPage, shot, signInAs, signedInbound } from "./helpers.js";

let browser;

before(async () => {
  browser = await launch();
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

test("when the 24-hour window has closed, free-form replies are disabled and a template is sent instead", async () => {
  const contact = "whatsapp:+15557770002";
  // The contact last wrote 30 hours ago (received then, as Twilio would have delivered it).
  await agedInbound(contact, "Can I move my booking?", 30);
  const conv = await inboxConversation(contact);

  const page = await newPage(browser);
  await signInAs(page, "agent_dana");
  await page.goto(`${BASE}/#/c/${conv.id}`);
  const banner = page.locator("#window-state");
  await banner.waitFor();
  assert.equal(await banner.getAttribute("data-window"), "closed");
  assert.match(await banner.textContent(), /24-hour window closed at .+ only a template/i);
  assert.ok(await page.locator("#composer-input").isDisabled(), "free-form input disabled");
  assert.ok(await page.locator("#send-button").isDisabled(), "send disabled");
  const templates = page.locator("details.templates");
  assert.equal(await templates.getAttribute("open"), "", "the template picker is open");

  // A malformed Content SID is caught before calling the API.
  await page.locator("#template-sid").fill("HX123");
  await page.locator("#template-send").click();
  assert.match(await page.locator("#template-error").textContent(), /HX followed by 32 hexadecimal/);
  // Malformed variables too.
  await page.locator("#template-sid").fill("HX0123456789abcdef0123456789abcdef");
  await page.locator("#template-vars").fill("{1: Ana}");
  await page.locator("#template-send").click();
  assert.match(await page.locator("#template-error").textContent(), /Variables must be JSON/);

  await page.locator("#template-vars").fill('{"1": "Ana", "2": "Friday 10:00"}');
  // Another old message arrives while the agent is filling in the form:
  // the view refreshes live and keeps what was typed.
  await agedInbound(contact, "Hello? Anyone?", 29);
  await page.locator(".msg.in", { hasText: "Hello? Anyone?" }).waitFor({ timeout: 15000 });
  assert.equal(await page.locator("#template-sid").inputValue(), "HX0123456789abcdef0123456789abcdef");
  assert.equal(await page.locator("#template-vars").inputValue(), '{"1": "Ana", "2": "Friday 10:00"}');
  assert.equal(await page.locator("#window-state").getAttribute("data-window"), "closed");
  await page.locator("#template-send").click();
  const sent = page.locator(".msg.out[data-message-id]");
  await sent.waitFor();
  assert.match(await sent.textContent(), /Template HX0123456789abcdef0123456789abcdef/);
  await eventually(async () => (await sent.locator(".ticks").getAttribute("data-status")) === "read", {
    message: "the template's ticks to reach read",
  });
  await shot(page, "inbox-window-closed.png");

  const stored = await api("agent_dana", "GET", `/conversations/${conv.id}/messages`);
  const agent = stored.json.messages.filter((m) => m.author_type === "agent");
  assert.equal(agent.length, 1);
  assert.equal(agent[0].template.content_sid, "HX0123456789abcdef0123456789abcdef");
  assert.deepEqual(agent[0].template.content_variables, { 1: "Ana", 2: "Friday 10:00" });
  // And the API agrees a free-form reply is refused.
  const refused = await api("agent_dana", "POST", `/conversations/${conv.id}/messages`, { body: "hello?" });
  assert.equal(refused.status, 422);
  assert.equal(refused.json.error.code, "outside_customer_service_window");
  assertNoPageErrors(page);
  await page.context().close();
});

test("a contact who sent STOP is shown as opted out and cannot be replied to", async () => {
  const contact = "whatsapp:+15557770003";
  await signedInbound(contact, "Where are you?");
  const conv = await inboxConversation(contact);

  const page = await newPage(browser);
  await signInAs(page, "agent_dana");
  await page.goto(`${BASE}/#/c/${conv.id}`);
  await page.locator(".msg.in", { hasText: "Where are you?" }).waitFor();
  assert.equal(await page.locator("#opted-out").count(), 0);
  assert.ok(!(await page.locator("#composer-input").isDisabled()), "reply enabled before STOP");

  // The contact opts out; the open view follows without a reload.
  await signedInbound(contact, "STOP");
  const banner = page.locator("#opted-out");
  await banner.waitFor({ timeout: 15000 });
  assert.match(await banner.textContent(), /Opted out.*sent STOP/);
  assert.ok(await page.locator("#composer-input").isDisabled(), "reply disabled");
  assert.ok(await page.locator("#send-button").isDisabled(), "send disabled");
  assert.equal(await page.locator("details.templates").count(), 0, "no template picker either");
  await page.locator(`a.conv-item[data-conversation-id="${conv.id}"] .tag-warn`, { hasText: "opted out" }).waitFor();
  await shot(page, "inbox-opted-out.png");

  const r = await api("agent_dana", "POST", `/conversations/${conv.id}/messages`, { body: "sorry" });
  assert.equal(r.status, 422);
  assert.equal(r.json.error.code, "contact_opted_out");
  assertNoPageErrors(page);
  await page.context().close();
});
