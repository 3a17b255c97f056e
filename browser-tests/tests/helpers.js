// Shared pieces of the browser tests: Debian's Chromium through
// playwright-core, the local stack's URLs, API calls with the demo users'
// dev tokens, signed inbound webhooks through the Twilio stand-in.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import path from "node:path";
import assert from "node:assert/strict";

export const BASE = process.env.WEB_BASE_URL || "http://127.0.0.1:3000";
export const STANDIN = process.env.STANDIN_URL || "http://127.0.0.1:3001";
export const SHOTS = process.env.SCREENSHOT_DIR || path.resolve("../.local/screenshots");
export const DEMO_NUMBER = "whatsapp:+15550001111";
mkdirSync(SHOTS, { recursive: true });

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

/** A fresh browser context (its own storage: a second "browser session"). */
export async function newPage(browser, { width = 1200, height = 800 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.on("pageerror", (e) => {
    page.errors = page.errors || [];
    page.errors.push(e);
  });
  return page;
}

export function assertNoPageErrors(page) {
  assert.deepEqual((page.errors || []).map(String), [], "uncaught errors in the page");
}

let tokensCache = null;
export async function devTokens() {
  if (!tokensCache) {
    const r = await fetch(`${BASE}/dev/tokens`);
    assert.equal(r.status, 200, "GET /dev/tokens");
    tokensCache = (await r.json()).users;
  }
  return tokensCache;
}

export async function tokenOf(userId) {
  const u = (await devTokens()).find((x) => x.user_id === userId);
  assert.ok(u, `no dev token for ${userId}`);
  return u.token;
}

/** An API call as a demo user: {status, json}. */
export async function api(userId, method, pathname, body) {
  const token = await tokenOf(userId);
  const r = await fetch(BASE + pathname, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

/** Open the app and sign in by clicking a demo user's button. */
export async function signInAs(page, userId) {
  await page.goto(BASE + "/");
  await page.locator(`button.user-button[data-user-id="${userId}"]`).click();
  await page.locator("#who .who-name").waitFor();
}

/** A signed inbound WhatsApp message through the stand-in, as Twilio sends it. */
export async function signedInbound(from, body, to = DEMO_NUMBER) {
  const r = await fetch(`${STANDIN}/_standin/inbound`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ from, to, body }),
  });
  assert.equal(r.status, 200, "stand-in inbound trigger");
  const json = await r.json();
  assert.equal(json.webhook_status, 200, "the signed webhook was accepted");
  return json.message_sid;
}

/** An inbound message received `hoursAgo` hours ago (dev endpoint of the local binary). */
export async function agedInbound(from, body, hoursAgo, extra = {}) {
  const r = await fetch(`${BASE}/dev/inbound`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ from, body, hours_ago: hoursAgo, ...extra }),
  });
  assert.equal(r.status, 202, "POST /dev/inbound");
  return r.json();
}

export async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: false });
}

export function unique(prefix) {
  return `${prefix}_${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Wait until `fn` returns a truthy value (bounded). */
export async function eventually(fn, { timeout = 15000, interval = 200, message = "condition" } = {}) {
  const until = Date.now() + timeout;
  let last;
  while (Date.now() < until) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out waiting for ${message}; last value ${JSON.stringify(last)}`);
}
