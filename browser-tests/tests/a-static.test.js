// The local gateway serving web/: content types, API routes untouched,
// unsafe paths refused (raw request paths, not normalised by a URL parser).

import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { BASE } from "./helpers.js";

function rawGet(path, method = "GET") {
  const { hostname, port } = new URL(BASE);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path, method }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

test("the web app's files are served with their content types", async () => {
  for (const [path, type] of [
    ["/", "text/html; charset=utf-8"],
    ["/index.html", "text/html; charset=utf-8"],
    ["/js/app.js", "text/javascript; charset=utf-8"],
    ["/config.js", "text/javascript; charset=utf-8"],
    ["/css/app.css", "text/css; charset=utf-8"],
    ["/favicon.svg", "image/svg+xml"],
  ]) {
    const r = await rawGet(path);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers["content-type"], type, path);
    assert.equal(r.headers["x-content-type-options"], "nosniff", path);
  }
  const index = await rawGet("/");
  assert.match(index.body, /<script type="module" src="js\/app.js">/);
  assert.match(index.headers["content-security-policy"], /script-src 'self'/);
  const head = await rawGet("/index.html", "HEAD");
  assert.equal(head.status, 200);
  assert.equal(head.body, "");
});

test("API routes are still the API, and unsafe or unknown paths are 404", async () => {
  const api = await rawGet("/conversations");
  assert.equal(api.status, 401);
  assert.equal(JSON.parse(api.body).error.code, "unauthorized");
  for (const path of [
    "/../Cargo.toml",
    "/%2e%2e/Cargo.toml",
    "/js/../../Cargo.toml",
    "/js/%2e%2e/%2e%2e/Cargo.toml",
    "/..%2fCargo.toml",
    "/.gitignore",
    "/js/%5c..%5capp.js",
    "/nope.html",
    "/README.md",
  ]) {
    const r = await rawGet(path);
    assert.equal(r.status, 404, path);
    assert.doesNotMatch(r.body, /\[workspace\]|playwright/, path);
  }
  const post = await rawGet("/index.html", "POST");
  assert.equal(post.status, 404);
});

test("the dev token endpoint lists the demo users, one per role", async () => {
  const r = await rawGet("/dev/tokens");
  assert.equal(r.status, 200);
  assert.equal(r.headers["cache-control"], "no-store");
  const users = JSON.parse(r.body).users;
  const byId = Object.fromEntries(users.map((u) => [u.user_id, u]));
  assert.equal(byId.cust_ana.user_type, "customer");
  assert.equal(byId.prov_ben.user_type, "provider");
  assert.equal(byId.agent_dana.org_id, "org_demo");
  assert.equal(byId.agent_dana.role, "admin");
  assert.equal(byId.agent_omar.org_id, "org_other");
  for (const u of users) assert.match(u.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
});
