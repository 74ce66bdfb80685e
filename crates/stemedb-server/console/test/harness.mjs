// What the console's browser tests stand on: a real `stemedb serve` on loopback with its own
// data directory, the demo's data, keys of each role, and headless Chromium driven by
// playwright-core (Debian's /usr/bin/chromium; no browser is downloaded).
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { chromium } from "playwright-core";

export const BIN = process.env.STEMEDB_BIN;
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** A server on a fresh data directory, or on `dataDir` as it is; `stop()` ends it and removes
 * a directory it made. */
export async function startServer(extraArgs = [], dataDir = null) {
  if (!BIN) throw new Error("STEMEDB_BIN is not set (run-tests.sh sets it)");
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), "stemedb-console-"));
  const dbDir = dataDir ?? join(dir, "db");
  const adminKey = `sdb_${randomBytes(32).toString("hex")}`;
  const child = spawn(BIN, ["serve", "--data-dir", dbDir, "--bind", "127.0.0.1:0", ...extraArgs], {
    env: { ...process.env, STEMEDB_ROOT_API_KEY: adminKey, RUST_LOG: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let errors = "";
  child.stderr.on("data", (d) => { errors += d; });
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`the server did not start: ${errors}`)), 120_000);
    child.stdout.on("data", (d) => {
      out += d;
      const match = /stemedb listening on (\S+)/.exec(out);
      if (match) { clearTimeout(timer); resolve(match[1]); }
    });
    child.on("exit", (code) => reject(new Error(`the server exited (${code}): ${errors}`)));
  });
  const stop = async () => {
    child.kill("SIGTERM");
    await new Promise((r) => (child.exitCode !== null ? r() : child.on("exit", r)));
    if (!dataDir) rmSync(dir, { recursive: true, force: true });
  };
  return { url, adminKey, stop, dir };
}

/** A JSON request with a key; throws with the problem on an error status. */
export async function call(server, key, method, path, body) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function newKey(server, name, role, agentIds = []) {
  const made = await call(server, server.adminKey, "POST", "/v1/api-keys", { name, role, agent_ids: agentIds });
  return made.key;
}

/** `stemedb demo` against the server: the five pilot moments' data. */
export function runDemo(server) {
  execFileSync(BIN, ["demo", "--server", server.url], {
    env: { ...process.env, STEMEDB_API_KEY: server.adminKey }, stdio: ["ignore", "ignore", "pipe"],
  });
}

/** Headless Chromium; every page error and dialog is collected, so a test can fail on them. */
export async function launch() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  return browser;
}

/** A page whose errors, dialogs and request URLs are collected (`troubles`, `urls`). */
export async function newPage(browser, options = {}) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, ...options });
  const troubles = [];
  const urls = [];
  page.on("request", (r) => urls.push(r.url()));
  page.on("pageerror", (e) => troubles.push(`page error: ${e.message}`));
  page.on("dialog", async (d) => { troubles.push(`dialog: ${d.message()}`); await d.dismiss(); });
  page.on("console", (m) => { if (m.type() === "error") troubles.push(`console: ${m.text()}`); });
  return { page, troubles, urls };
}

/** Ends a page's test: nothing went wrong in it, and no request carried `key` in its URL. */
export async function finish({ page, troubles, urls }, key) {
  const leaks = urls.filter((u) => u.includes(key));
  await page.close();
  if (troubles.length) throw new Error(`trouble in the page: ${troubles.join("; ")}`);
  if (leaks.length) throw new Error(`the key went into a URL: ${leaks[0]}`);
}

/** Opens the console and logs in with `key`; resolves when the first panel is ready. */
export async function login(page, server, key, hash = "") {
  await page.goto(`${server.url}/console/${hash}`);
  await page.fill("#key", key);
  await page.click("#login button[type=submit]");
  await page.waitForSelector("nav");
  await ready(page);
}

/** Waits for the panel on screen to finish loading; fails on a JavaScript value shown as a
 * word: a text that is just "null", or "undefined", "[object Object]" or "NaN" anywhere. */
export async function ready(page, panel) {
  const selector = panel ? `main#view[data-panel="${panel}"][data-ready="true"]` : 'main#view[data-ready="true"]';
  await page.waitForSelector(selector, { timeout: 30_000 });
  const words = await page.evaluate(() => {
    const walker = document.createTreeWalker(document.querySelector("main#view"), NodeFilter.SHOW_TEXT);
    const found = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      // A whole text of "null", or these words anywhere (no test data holds them).
      if (n.nodeValue.trim() === "null" || /undefined|\[object Object\]|\bNaN\b/.test(n.nodeValue)) {
        found.push(n.parentElement?.outerHTML.slice(0, 120));
      }
    }
    return found;
  });
  if (words.length) throw new Error(`the page shows a JavaScript value as a word: ${words.join(" | ")}`);
}

/** Moves to `hash` and waits for its panel: the view is replaced synchronously on the
 * hashchange, so waiting after it never finds the last visit's view. */
export async function go(page, hash, panel) {
  await page.evaluate((h) => new Promise((resolve) => {
    window.addEventListener("hashchange", () => resolve(), { once: true });
    location.hash = h;
  }), hash);
  await ready(page, panel);
}
