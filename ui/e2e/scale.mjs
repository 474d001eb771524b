// The web UI at archive scale: how long the screens an operator uses take in a real Chromium
// against a real `nas-sync serve`, on a baseline archive and a large one in the same process, and
// how long the page's main thread was blocked (Long Tasks API). Timings are not asserted (a 2-core
// shared machine); each screen is checked for its content, so a broken screen fails the run.
// docs/benchmarks.md has the command for 1,000,000 files and the results; scripts/ui-test.sh runs
// it on two small demo archives so it keeps working.
//
//   NAS_SYNC_BIN=path/to/nas-sync node e2e/scale.mjs [--runs N] [--json FILE] BASELINE_DIR LARGE_DIR
//
// Each DIR holds a synced nas-sync.toml (e.g. `nas-sync demo` + `nas-sync sync`, or
// `nas-sync-bench --until first-sync --keep` plus a nas-sync.toml next to its databases).
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const DIST = path.resolve(here, "..", "dist");
const BIN = process.env.NAS_SYNC_BIN;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const WAIT = 120_000;

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  if (i < 0) return def;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const RUNS = Number(opt("--runs", "5"));
const JSON_OUT = opt("--json", null);
if (!BIN || !fs.existsSync(BIN)) throw new Error("set NAS_SYNC_BIN to the nas-sync binary");
if (!fs.existsSync(path.join(DIST, "index.html"))) throw new Error(`build the UI first: ${DIST}`);
if (args.length !== 2 || !Number.isInteger(RUNS) || RUNS < 1)
  throw new Error("usage: node e2e/scale.mjs [--runs N] [--json FILE] BASELINE_DIR LARGE_DIR");

// The launch token (README "Security"): Bearer for the script's own call, the printed address
// for the browser's first page load (it trades the token for a session cookie).
const TOKEN = crypto.randomBytes(32).toString("hex");

function check(cond, msg) {
  if (!cond) throw new Error(`FAIL: ${msg}`);
}

async function serve(dir) {
  const proc = spawn(BIN, ["--config", path.join(dir, "nas-sync.toml"), "serve", "--bind", "127.0.0.1:0", "--ui-dir", DIST, "--no-schedule", "--no-watch"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NAS_SYNC_LOCAL_TOKEN: TOKEN },
  });
  let out = "";
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start: ${out}`)), WAIT);
    const on = (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(m[1]);
      }
    };
    proc.stdout.on("data", on);
    proc.stderr.on("data", on);
    proc.on("exit", (code) => reject(new Error(`serve exited ${code}: ${out}`)));
  });
  return { url, stop: () => proc.kill("SIGTERM") };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Milliseconds from now until `cond` holds, polled every animation frame inside the page. */
async function until(page, cond, arg) {
  const t0 = Date.now();
  await page.waitForFunction(cond, arg, { timeout: WAIT, polling: "raf" });
  return Date.now() - t0;
}

const rows = () => document.querySelectorAll('[data-testid="matching-row"]').length === 20;
const firstPath = () => document.querySelector('[data-testid="source-path"]')?.textContent ?? "";
const total = () => Number(document.querySelector('[data-testid="matching-total"]')?.dataset.total ?? -1);

/** One pass over the screens; returns { step: ms } plus the page's long tasks. */
async function pass(ctx, url) {
  const page = await ctx.newPage();
  await page.addInitScript(() => {
    window.__long = [];
    new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => e.duration))).observe({ type: "longtask", buffered: true });
  });
  const m = {};
  let t0 = Date.now();
  await page.goto(url + "/");
  await page.waitForFunction(() => document.querySelector('[data-testid="source-total"]')?.dataset.value, null, { timeout: WAIT, polling: "raf" });
  m.dashboard = Date.now() - t0;
  const files = Number(await page.getByTestId("source-total").getAttribute("data-value"));

  t0 = Date.now();
  await page.goto(url + "/matching");
  await page.waitForFunction(rows, null, { timeout: WAIT, polling: "raf" });
  m.table = Date.now() - t0;
  const all = await page.evaluate(total);
  check(all > 40, `the table has more than two pages (${all})`);

  let before = await page.evaluate(firstPath);
  await page.getByTestId("page-2").click();
  m.page2 = await until(page, ([p]) => document.querySelectorAll('[data-testid="matching-row"]').length === 20 && (document.querySelector('[data-testid="source-path"]')?.textContent ?? "") !== p, [before]);

  const last = Math.ceil(all / 20);
  before = await page.evaluate(firstPath);
  await page.getByTestId(`page-${last}`).click();
  m.lastPage = await until(page, ([p]) => document.querySelector('[data-testid="source-path"]') && document.querySelector('[data-testid="source-path"]').textContent !== p, [before]);

  before = await page.evaluate(firstPath);
  await page.getByTestId("page-1").click();
  await until(page, ([p]) => document.querySelector('[data-testid="source-path"]')?.textContent !== p, [before]);
  before = await page.evaluate(firstPath);
  await page.getByTestId("sort-size").click();
  m.sortSize = await until(page, ([p]) => document.querySelectorAll('[data-testid="matching-row"]').length === 20 && document.querySelector('[data-testid="source-path"]')?.textContent !== p, [before]);

  await page.goto(url + "/matching");
  await page.waitForFunction(rows, null, { timeout: WAIT, polling: "raf" });
  await page.getByTestId("search").fill("하이라이트");
  m.search = await until(page, ([a]) => {
    const n = Number(document.querySelector('[data-testid="matching-total"]')?.dataset.total ?? -1);
    return n >= 0 && n !== a && (n === 0 || document.querySelector('[data-testid="matching-row"]'));
  }, [all]);
  m.searchHits = await page.evaluate(total);

  await page.goto(url + "/matching");
  await page.waitForFunction(rows, null, { timeout: WAIT, polling: "raf" });
  const tab = page.getByTestId("tab-not_synced");
  check((await tab.count()) === 1, "a 미동기화 tab");
  await tab.click();
  m.statusTab = await until(page, ([a]) => {
    const n = Number(document.querySelector('[data-testid="matching-total"]')?.dataset.total ?? -1);
    return n >= 0 && n !== a && [...document.querySelectorAll('[data-testid="matching-row"]')].every((r) => r.dataset.status !== "synced");
  }, [all]);

  // Tree: the catalogs, then the first folder at each level down to a folder with files.
  await page.getByTestId("toggle-tree").click();
  m.treeRoot = await until(page, () => document.querySelector('[data-testid="tree-dir"]'));
  let open = await page.getByTestId("tree-dir").first().getAttribute("data-path");
  const opened = [];
  for (let depth = 0; depth < 8; depth++) {
    await page.locator(`[data-testid="tree-dir"][data-path="${open}"]`).click();
    const ms = await until(page, ([p]) => {
      const file = document.querySelector('[data-testid="tree-file"]');
      const sub = document.querySelector(`[data-testid="tree-dir"][data-path^="${p}/"]`);
      return file || sub;
    }, [open]);
    opened.push(ms);
    if (await page.getByTestId("tree-file").count()) break;
    open = await page.locator(`[data-testid="tree-dir"][data-path^="${open}/"]`).first().getAttribute("data-path");
  }
  check((await page.getByTestId("tree-file").count()) > 0, "the tree reached a folder with files");
  m.treeOpen = median(opened);
  m.treeDepth = opened.length;
  m.treeDomRows = await page.locator('[data-testid="tree"] [role="treeitem"], [data-testid="tree-dir"], [data-testid="tree-file"]').count();

  const long = await page.evaluate(() => window.__long);
  m.longTaskMax = long.length ? Math.max(...long) : 0;
  m.longTaskTotal = long.reduce((a, b) => a + b, 0);
  m.files = files;
  await page.close();
  return m;
}

async function measure(dir) {
  const t0 = Date.now();
  const s = await serve(dir);
  // The server answers at once; the first query may wait for the match index (built on first use).
  const r = await fetch(s.url + "/api/dashboard", { headers: { Authorization: `Bearer ${TOKEN}` } });
  check(r.ok, `GET /api/dashboard: ${r.status}`);
  const warm = Date.now() - t0;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "nas-sync-scale-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--lang=ko-KR"],
    viewport: { width: 1366, height: 900 },
    locale: "ko-KR",
  });
  const passes = [];
  try {
    const signIn = await ctx.newPage();
    await signIn.goto(`${s.url}/?token=${TOKEN}`);
    await signIn.close();
    await pass(ctx, s.url); // warm-up: the index, SQLite's page cache, Chromium's cache
    for (let i = 0; i < RUNS; i++) passes.push(await pass(ctx, s.url));
  } finally {
    await ctx.close();
    s.stop();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  const out = { serverToFirstAnswer: warm };
  for (const k of Object.keys(passes[0])) out[k] = median(passes.map((p) => p[k]));
  out.longTaskMaxAll = Math.max(...passes.map((p) => p.longTaskMax));
  return out;
}

const [base, large] = [await measure(args[0]), await measure(args[1])];
const lines = [
  ["files in the Source", "files"],
  ["server start → first `/api/dashboard` answer (once, cold)", "serverToFirstAnswer"],
  ["dashboard: navigation → numbers on screen", "dashboard"],
  ["1:1 matching: navigation → 20 rows on screen", "table"],
  ["matching: click page 2 → its rows", "page2"],
  ["matching: click the last page → its rows", "lastPage"],
  ["matching: click sort by size → sorted rows", "sortSize"],
  ["matching: type `하이라이트` in search → results (incl. the 300 ms typing debounce)", "search"],
  ["matching: search hits", "searchHits"],
  ["matching: click the 미동기화 tab → its rows", "statusTab"],
  ["tree: toggle → the catalogs", "treeRoot"],
  ["tree: open a folder → its children (median over the levels)", "treeOpen"],
  ["tree: levels opened down to a folder with files", "treeDepth"],
  ["tree: rows in the DOM after opening them (virtualized)", "treeDomRows"],
  ["longest main-thread task of a pass (median of passes)", "longTaskMax"],
  ["main-thread time in long tasks per pass (median)", "longTaskTotal"],
  ["longest main-thread task in any pass", "longTaskMaxAll"],
];
const counts = new Set(["files", "searchHits", "treeDepth", "treeDomRows"]);
const longTasks = new Set(["longTaskMax", "longTaskTotal", "longTaskMaxAll"]);
const fmt = (k, v) =>
  counts.has(k) ? v.toLocaleString("en-US") : longTasks.has(k) && v === 0 ? "none ≥ 50 ms" : `${Math.round(v)} ms`;
console.log(`| measurement (median of ${RUNS} pass${RUNS > 1 ? "es" : ""} after a warm-up) | baseline | large | large / baseline |`);
console.log("|---|---|---|---|");
for (const [label, k] of lines) {
  const ratio = counts.has(k) || !base[k] ? "" : `${(large[k] / base[k]).toFixed(2)}×`;
  console.log(`| ${label} | ${fmt(k, base[k])} | ${fmt(k, large[k])} | ${ratio} |`);
}
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ runs: RUNS, baseline: base, large }, null, 2));
