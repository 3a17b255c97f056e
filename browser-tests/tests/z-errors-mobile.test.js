// Bad tokens get the API's own message (never raw JSON); API errors are
// shown readably; the app works at 360 px wide and by keyboard.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { BASE, api, assertNoPageErrors, launch, newPage, shot, signInAs, unique } from "./helpers.js";

let browser;

before(async () => {
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

async function pasteToken(page, token) {
  await page.goto(BASE + "/");
  await page.locator("#token").fill(token);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  return page.locator("#signin-error");
}

test("a bad token is refused with the API's message, and the user stays signed out", async () => {
  const page = await newPage(browser);
  let err = await pasteToken(page, "not-a-jwt");
  await err.filter({ hasText: /./ }).waitFor();
  const text = await err.textContent();
  assert.match(text, /authentication required: invalid token/);
  assert.doesNotMatch(text, /[{}"]/, "no raw JSON");
  assert.equal(await page.locator("#who .who-name").count(), 0);
  await shot(page, "signin-bad-token.png");

  // A well-formed JWT signed with another secret: also the API's words.
  const good = (await api("cust_ana", "GET", "/me/unread")).status;
  assert.equal(good, 200);
  const forged = [
    Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url"),
    Buffer.from(
      JSON.stringify({ sub: "cust_ana", exp: Math.floor(Date.now() / 1000) + 3600, app_metadata: { user_type: "customer" } }),
    ).toString("base64url"),
    Buffer.from("not the signature").toString("base64url"),
  ].join(".");
  err = await pasteToken(page, forged);
  await err.filter({ hasText: /invalid token signature/ }).waitFor();
  assertNoPageErrors(page);
  await page.context().close();
});

test("a pasted valid token signs in, and signing out forgets it", async () => {
  const page = await newPage(browser);
  const r = await fetch(`${BASE}/dev/tokens`);
  const ben = (await r.json()).users.find((u) => u.user_id === "prov_ben");
  await pasteToken(page, ben.token);
  await page.locator("#who .who-name").waitFor();
  assert.equal(await page.locator("#who .who-name").textContent(), "prov_ben");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.locator("#token").waitFor();
  await page.reload();
  await page.locator("#token").waitFor();
  assert.equal(await page.locator("#who .who-name").count(), 0);
  await page.context().close();
});

test("at 360 px wide the list and the conversation fit, and the keyboard alone can send", async () => {
  const booking = unique("bk_mobile");
  const created = await api("booking-system", "POST", "/conversations", {
    booking_id: booking,
    participants: [
      { user_id: "cust_ana", user_type: "customer", display_name: "Ana" },
      { user_id: "prov_ben", user_type: "provider", display_name: "Ben" },
    ],
  });
  assert.equal(created.status, 201);
  const conv = created.json.id;
  const page = await newPage(browser, { width: 360, height: 740 });
  await signInAs(page, "cust_ana");
  const item = page.locator(`a.conv-item[data-conversation-id="${conv}"]`);
  await item.waitFor();
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok((await overflow()) <= 0, "no horizontal scroll on the list");
  await shot(page, "mobile-list.png");

  // Keyboard: focus the conversation link, Enter opens it, type, Enter sends.
  await item.focus();
  await page.keyboard.press("Enter");
  const input = page.locator("#composer-input");
  await input.waitFor();
  assert.ok(!(await page.locator(".list-pane").isVisible()), "the list gives way to the conversation");
  await input.focus();
  await page.keyboard.type("Sent from a phone");
  await page.keyboard.press("Enter");
  await page.locator(".msg.out[data-message-id]", { hasText: "Sent from a phone" }).waitFor();
  assert.ok((await overflow()) <= 0, "no horizontal scroll in the conversation");
  await shot(page, "mobile-chat.png");

  // A refused send shows the API's message (closed chat), not JSON. Closing
  // a booking chat is the booking system's (a service token).
  const closed = await api("booking-system", "PATCH", `/conversations/${conv}`, { status: "closed" });
  assert.equal(closed.status, 200, JSON.stringify(closed.json));
  await page.locator(".banner-closed", { hasText: "This chat is closed." }).waitFor({ timeout: 15000 });
  assert.ok(await input.isDisabled());

  // Back to the list.
  await page.getByRole("link", { name: "Back to conversations" }).click();
  await item.waitFor();
  assertNoPageErrors(page);
  await page.context().close();
});

test("an API error while sending is shown as the API's message", async () => {
  const booking = unique("bk_err");
  const created = await api("booking-system", "POST", "/conversations", {
    booking_id: booking,
    participants: [
      { user_id: "cust_ana", user_type: "customer", display_name: "Ana" },
      { user_id: "prov_ben", user_type: "provider", display_name: "Ben" },
    ],
  });
  const conv = created.json.id;
  const page = await newPage(browser);
  await signInAs(page, "cust_ana");
  await page.goto(`${BASE}/#/c/${conv}`);
  const input = page.locator("#composer-input");
  await input.waitFor();
  // Ana's view goes stale (its refreshes fail) while the booking system
  // closes the chat, so her send reaches the API, which refuses it.
  await page.route(`**/conversations/${conv}**`, (route) =>
    route.request().method() === "GET" ? route.abort("connectionrefused") : route.fallback(),
  );
  const closed = await api("booking-system", "PATCH", `/conversations/${conv}`, { status: "closed" });
  assert.equal(closed.status, 200);
  await input.fill("Are you there?");
  await input.press("Enter");
  const failed = page.locator(".msg.pending.failed");
  await failed.waitFor();
  const text = await failed.textContent();
  const refused = await api("cust_ana", "POST", `/conversations/${conv}/messages`, { body: "Are you there?" });
  assert.equal(refused.status, 409);
  assert.ok(text.includes(`Not sent: ${refused.json.error.message}`), `shows the API's message: ${text}`);
  assert.doesNotMatch(text, /[{}]/, "no raw JSON");
  const r = await api("cust_ana", "GET", `/conversations/${conv}/messages`);
  assert.equal(r.json.messages.length, 0, "nothing stored");
  assertNoPageErrors(page);
  await page.context().close();
});
