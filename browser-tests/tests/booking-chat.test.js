// A customer and a provider chatting about a booking in two browser
// sessions: live updates without reload, unread badges and total, read
// receipts, participants who left, and a send whose answer was lost being
// retried with the same Idempotency-Key without doubling.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { api, assertNoPageErrors, eventually, launch, newPage, shot, signInAs, unique } from "./helpers.js";

let browser;
let conv;
const booking = unique("bk_web");

before(async () => {
  browser = await launch();
  // The booking system opens the chat when the booking is confirmed.
  const r = await api("booking-system", "POST", "/conversations", {
    booking_id: booking,
    participants: [
      { user_id: "cust_ana", user_type: "customer", display_name: "Ana" },
      { user_id: "prov_ben", user_type: "provider", display_name: "Ben" },
    ],
  });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  conv = r.json.id;
});

after(async () => {
  await browser?.close();
});

test("a customer and a provider chat live in two browser sessions, with unread counts and read receipts", async () => {
  const ana = await newPage(browser);
  const ben = await newPage(browser);
  await signInAs(ana, "cust_ana");
  await signInAs(ben, "prov_ben");

  // Both see the booking conversation in their list, with its booking context.
  const anaItem = ana.locator(`a.conv-item[data-conversation-id="${conv}"]`);
  const benItem = ben.locator(`a.conv-item[data-conversation-id="${conv}"]`);
  await anaItem.waitFor();
  await benItem.waitFor();
  assert.match(await anaItem.textContent(), new RegExp(`booking ${booking}`));
  assert.match(await anaItem.locator(".conv-title").textContent(), /Ben/);
  assert.match(await benItem.locator(".conv-title").textContent(), /Ana/);

  // Ana opens it and sends with Enter.
  await anaItem.click();
  await ana.locator("#conv-title").waitFor();
  const input = ana.locator("#composer-input");
  await input.fill("Hi Ben, when will you arrive?");
  await input.press("Enter");
  const anaMsg = ana.locator(".msg.out[data-message-id]", { hasText: "when will you arrive" });
  await anaMsg.waitFor();
  assert.equal(await input.inputValue(), "", "the composer is cleared after sending");

  // Ben's list shows the unread message without a reload: badge and total.
  await eventually(async () => (await benItem.locator(".unread-badge").textContent().catch(() => null)) === "1", {
    message: "Ben's unread badge to show 1",
  });
  assert.equal(await ben.locator("#unread-total").getAttribute("data-count"), "1");
  assert.match(await benItem.locator(".conv-preview").textContent(), /when will you arrive/);
  await shot(ben, "booking-provider-list.png");

  // Ana has not seen a read receipt yet.
  assert.doesNotMatch(await anaMsg.locator(".state-text").textContent(), /Read by/);

  // Ben opens the conversation: marked read, unread goes to 0.
  await benItem.click();
  await ben.locator(".msg.in", { hasText: "when will you arrive" }).waitFor();
  await eventually(async () => (await ben.locator("#unread-total").getAttribute("data-count")) === "0", {
    message: "Ben's total unread to drop to 0",
  });
  const r = await api("prov_ben", "GET", "/me/unread");
  assert.equal(r.json.unread_count, 0, "mark-as-read reached the API");

  // Ana sees the read receipt appear, live.
  await eventually(async () => /Read by Ben/.test(await anaMsg.locator(".state-text").textContent()), {
    message: "Ana to see 'Read by Ben'",
  });
  assert.equal(await anaMsg.locator(".ticks").getAttribute("data-status"), "read");

  // Ana starts typing while Ben answers: the live refresh must keep her
  // draft, her focus and the message elements already on screen.
  await input.click();
  await input.type("draft in progress");
  await ana.evaluate(() => {
    document.querySelector(".msg[data-message-id]").__marker = "kept";
  });

  // Ben replies on two lines (Shift+Enter), Enter sends.
  const benInput = ben.locator("#composer-input");
  await benInput.click();
  await benInput.type("I'll be there at 2 PM.");
  await benInput.press("Shift+Enter");
  await benInput.type("Ring twice, please.");
  await benInput.press("Enter");
  await ben.locator(".msg.out[data-message-id]", { hasText: "Ring twice" }).waitFor();

  // Ana, still on the conversation, gets it live and reads it at once
  // (it is visible), so Ben sees his reply read by Ana.
  const reply = ana.locator(".msg.in", { hasText: "I'll be there at 2 PM." });
  await reply.waitFor({ timeout: 15000 });
  assert.equal(await reply.locator(".msg-body").textContent(), "I'll be there at 2 PM.\nRing twice, please.");
  assert.match(await reply.locator(".msg-author").textContent(), /Ben/);
  assert.equal(await input.inputValue(), "draft in progress", "the draft survived the refresh");
  assert.equal(await ana.evaluate(() => document.activeElement && document.activeElement.id), "composer-input");
  assert.equal(
    await ana.evaluate(() => document.querySelector(".msg[data-message-id]").__marker),
    "kept",
    "unchanged messages are updated in place, not re-created",
  );
  await input.fill("");
  await eventually(
    async () => /Read by Ana/.test(await ben.locator(".msg.out", { hasText: "Ring twice" }).locator(".state-text").textContent()),
    { message: "Ben to see 'Read by Ana'" },
  );
  const messages = await api("cust_ana", "GET", `/conversations/${conv}/messages`);
  assert.deepEqual(
    messages.json.messages.map((m) => m.body),
    ["Hi Ben, when will you arrive?", "I'll be there at 2 PM.\nRing twice, please."],
  );
  await shot(ana, "booking-customer-chat.png");
  assertNoPageErrors(ana);
  assertNoPageErrors(ben);
  await ana.context().close();
  await ben.context().close();
});

test("a participant who left is listed as left", async () => {
  let r = await api("booking-system", "POST", `/conversations/${conv}/participants`, {
    user_id: "prov_cleo",
    user_type: "provider",
    display_name: "Cleo",
  });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  r = await api("booking-system", "DELETE", `/conversations/${conv}/participants/prov_cleo`);
  assert.ok(r.status === 200 || r.status === 204, `remove: ${r.status}`);

  const ana = await newPage(browser);
  await signInAs(ana, "cust_ana");
  await ana.goto(`${ana.url().split("#")[0]}#/c/${conv}`);
  const panel = ana.locator("details.participants");
  await panel.locator("summary").click();
  const cleo = panel.locator('li[data-user-id="prov_cleo"]');
  await cleo.waitFor();
  assert.equal(await cleo.getAttribute("data-active"), "false");
  assert.match(await cleo.textContent(), /left/);
  assert.equal(await panel.locator('li[data-user-id="prov_ben"]').getAttribute("data-active"), "true");
  assert.match(await panel.locator("summary").textContent(), /2 active, 1 left/);
  assertNoPageErrors(ana);
  await ana.context().close();
});

test("a send whose answer is lost is shown as failed, and Retry reuses its Idempotency-Key so it is stored once", async () => {
  const ana = await newPage(browser);
  await signInAs(ana, "cust_ana");
  await ana.goto(`${ana.url().split("#")[0]}#/c/${conv}`);
  await ana.locator("#composer-input").waitFor();

  const keys = [];
  let first = true;
  await ana.route(`**/conversations/${conv}/messages`, async (route) => {
    const req = route.request();
    if (req.method() !== "POST") return route.fallback();
    keys.push(req.headers()["idempotency-key"]);
    if (first) {
      first = false;
      // The request reaches the API (the message is sent and stored), but
      // the answer never reaches the page.
      await route.fetch();
      return route.abort("connectionreset");
    }
    return route.fallback();
  });

  const text = `Is parking free? ${Date.now()}`;
  await ana.locator("#composer-input").fill(text);
  await ana.locator("#send-button").click();
  const failed = ana.locator(".msg.pending.failed", { hasText: text });
  await failed.waitFor();
  assert.match(await failed.textContent(), /Not sent: Could not reach the server/);
  await failed.getByRole("button", { name: "Retry sending" }).click();
  await ana.locator(".msg.out[data-message-id]", { hasText: text }).waitFor();
  await eventually(async () => (await ana.locator(".msg.pending").count()) === 0, { message: "no pending message left" });

  assert.equal(keys.length, 2, "sent twice");
  assert.ok(keys[0] && keys[0] === keys[1], `the retry used the same Idempotency-Key: ${keys}`);
  const messages = await api("cust_ana", "GET", `/conversations/${conv}/messages`);
  assert.equal(messages.json.messages.filter((m) => m.body === text).length, 1, "stored exactly once");
  await ana.waitForTimeout(3000); // a poll later, still once on screen
  assert.equal(await ana.locator(".msg", { hasText: text }).count(), 1);
  assertNoPageErrors(ana);
  await ana.context().close();
});

test("a long conversation shows its newest page and loads older messages on demand, live updates included", async () => {
  const r = await api("booking-system", "POST", "/conversations", {
    booking_id: unique("bk_long"),
    participants: [
      { user_id: "cust_ana", user_type: "customer", display_name: "Ana" },
      { user_id: "prov_ben", user_type: "provider", display_name: "Ben" },
    ],
  });
  assert.equal(r.status, 201);
  const id = r.json.id;
  for (let i = 1; i <= 55; i++) {
    const s = await api(i % 2 ? "cust_ana" : "prov_ben", "POST", `/conversations/${id}/messages`, { body: `message ${i}` });
    assert.equal(s.status, 201, JSON.stringify(s.json));
  }
  const ana = await newPage(browser);
  await signInAs(ana, "cust_ana");
  await ana.goto(`${ana.url().split("#")[0]}#/c/${id}`);
  const shown = ana.locator(".msg[data-message-id] .msg-body");
  await ana.locator(".msg", { hasText: "message 55" }).waitFor();
  assert.equal(await shown.count(), 50, "one page of 50");
  assert.equal(await shown.first().textContent(), "message 6");

  await ana.locator("#load-older").click();
  await eventually(async () => (await shown.count()) === 55, { message: "55 messages after loading older" });
  const bodies = await shown.allTextContents();
  assert.deepEqual(bodies, Array.from({ length: 55 }, (_, i) => `message ${i + 1}`), "oldest first, none missing or doubled");
  assert.equal(await ana.locator("#load-older").count(), 0, "nothing older left");

  // A new message arrives: appended live, the older page stays.
  await api("prov_ben", "POST", `/conversations/${id}/messages`, { body: "message 56" });
  await ana.locator(".msg", { hasText: "message 56" }).waitFor({ timeout: 15000 });
  assert.equal(await shown.count(), 56);
  assert.equal(await shown.first().textContent(), "message 1");
  assertNoPageErrors(ana);
  await ana.context().close();
});
