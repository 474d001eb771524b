// End-to-end tests of the web UI in a real Chromium (playwright-core + Debian's chromium)
// against a real `nas-sync serve` on a demo archive. Every wait is on a condition with a generous
// timeout (a 2-core shared machine); nothing sleeps to assert. Screenshots of each screen
// (Korean) go to docs/screenshots/. The last line is "N passed, N failed".
//
//   NAS_SYNC_BIN=path/to/nas-sync node e2e/run.mjs     (after `npm run build`)
import { execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import WebSocket from "ws";

const here = path.dirname(fileURLToPath(import.meta.url));
const UI = path.resolve(here, "..");
const REPO = path.resolve(UI, "..");
const DIST = path.join(UI, "dist");
const SHOTS = process.env.SCREENSHOT_DIR ?? path.join(REPO, "docs", "screenshots");
const BIN =
  process.env.NAS_SYNC_BIN ??
  path.join(process.env.CARGO_TARGET_DIR ?? path.join(REPO, "target"), "debug", "nas-sync");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const WAIT = 60_000;
const ONLY = process.env.E2E_ONLY ? new RegExp(process.env.E2E_ONLY) : null;
// The servers' launch token (README "Security"): the browser trades it for a session cookie on
// its first page load; the test's own API calls send it as a Bearer token.
const TOKEN = crypto.randomBytes(32).toString("hex");

if (!fs.existsSync(path.join(DIST, "index.html"))) throw new Error(`build the UI first: ${DIST}`);
if (!fs.existsSync(BIN)) throw new Error(`nas-sync binary not found: ${BIN} (set NAS_SYNC_BIN)`);
fs.mkdirSync(SHOTS, { recursive: true });

// ---------------------------------------------------------------------------------------------
// The real server and CLI

function cli(dir, args) {
  const out = execFileSync(BIN, ["--config", path.join(dir, "nas-sync.toml"), ...args, "--json"], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out);
}

/** Give a file just written an mtime an hour ago: a finished copy, which a sync publishes at
 * once (a file modified within `settle_secs` is held back as still being copied). */
function atRest(file) {
  const t = Date.now() / 1000 - 3600;
  fs.utimesSync(file, t, t);
}

function makeDemo() {
  const dir = tempDir("nas-sync-e2e-");
  execFileSync(BIN, ["demo", "--dir", dir], { encoding: "utf8" });
  // The media probe stays on (the demo's real clips give codecs and resolutions to show).
  execFileSync(BIN, ["--config", path.join(dir, "nas-sync.toml"), "sync", "-q"]);
  return dir;
}

const servers = new Set();
/** Temp dirs of this run, removed at the end. */
const temps = [];
function tempDir(prefix) {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temps.push(d);
  return d;
}

async function serve(dir, bind = "127.0.0.1:0", token = TOKEN) {
  const env = { ...process.env };
  if (token) env.NAS_SYNC_LOCAL_TOKEN = token;
  else delete env.NAS_SYNC_LOCAL_TOKEN;
  const proc = spawn(
    BIN,
    ["--config", path.join(dir, "nas-sync.toml"), "serve", "--bind", bind, "--ui-dir", DIST, "--no-schedule", "--no-watch"],
    { stdio: ["ignore", "pipe", "pipe"], env },
  );
  servers.add(proc);
  let err = "";
  proc.stderr.on("data", (d) => {
    err = (err + d).slice(-8000);
  });
  // First line: "listening on http://ADDR"; second: "open http://ADDR/?token=…".
  const [url, open] = await new Promise((resolve, reject) => {
    let out = "";
    const t = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), WAIT);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)\n+open (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve([m[1], m[2]]);
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`serve exited ${code}: ${err}`));
    });
  });
  return {
    url,
    open,
    proc,
    stderr: () => err,
    async stop() {
      if (proc.exitCode !== null) return;
      const done = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await done;
      servers.delete(proc);
    },
  };
}

async function api(base, method, p, body) {
  // Every state change is JSON (`{}` at least); every call carries the token.
  if (method !== "GET" && body === undefined) body = {};
  const r = await fetch(base + p, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, json: await r.json() };
}

// ---------------------------------------------------------------------------------------------
// Browser and assertions

const external = [];
const pageErrors = [];

async function browser() {
  const profile = tempDir("nas-sync-chromium-");
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--lang=ko-KR",
    ],
    viewport: { width: 1366, height: 900 },
    locale: "ko-KR",
    timezoneId: "Asia/Seoul",
    colorScheme: "light",
  });
  ctx.setDefaultTimeout(WAIT);
  // The copy-path buttons write the clipboard; the tests read it back.
  await ctx.grantPermissions(["clipboard-read", "clipboard-write"]);
  // No fetch may leave the machine (fonts and assets are bundled or the system's).
  await ctx.route("**/*", (route) => {
    const u = new URL(route.request().url());
    if (u.protocol === "data:" || u.hostname === "127.0.0.1" || u.hostname === "localhost") return route.continue();
    external.push(u.href);
    return route.abort();
  });
  return ctx;
}

function watchPage(page) {
  page.on("pageerror", (e) => pageErrors.push(e.stack ?? e.message));
}

class Failure extends Error {}

function assert(cond, msg) {
  if (!cond) throw new Failure(msg);
}

function eq(actual, expected, msg) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Failure(`${msg}: expected ${e}, got ${a}`);
}

/** Poll `fn` until it returns a truthy value (or throw with what it last saw). */
async function until(fn, msg, timeout = WAIT) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Failure(`${msg} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function shot(page, name, fullPage = true) {
  await page.evaluate(() => document.fonts.ready);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

const texts = (loc) => loc.allInnerTexts();
/** The live log's lines as text. Not `innerText`: rows off screen are not laid out
 * (`content-visibility: auto`), and the rendered text of a row not laid out is empty. */
const logTexts = () => page.getByTestId("log-line").allTextContents();


/** A CSV the browser downloaded: its suggested name, and its records (BOM checked, CRLF split;
 * the demo's paths need no quoting, which `fields` checks). */
async function downloaded(download) {
  const name = download.suggestedFilename();
  const buf = fs.readFileSync(await download.path());
  eq([...buf.subarray(0, 3)], [0xef, 0xbb, 0xbf], "the file starts with the UTF-8 BOM");
  const text = buf.subarray(3).toString("utf8");
  assert(text.endsWith("\r\n"), "CRLF line ends");
  const rows = text.slice(0, -2).split("\r\n").map((l) => {
    assert(!l.includes('"'), `a record that needs the full CSV reader: ${l}`);
    return l.split(",");
  });
  return { name, header: rows[0], rows: rows.slice(1) };
}

/** Open the export dialog with `button`, check what it says, download, close it. */
async function exportFrom(p, button, { rows, filters = [], shotName = null }) {
  await p.getByTestId(button).click();
  const dialog = p.getByTestId("export-dialog");
  await dialog.waitFor();
  eq(Number(await p.getByTestId("export-rows").getAttribute("data-value")), rows, "the dialog's row count");
  const words = await p.getByTestId("export-filters").innerText();
  for (const f of filters) assert(words.includes(f), `the dialog names the filter ${f}: ${words}`);
  if (filters.length === 0) assert(words.includes("없음"), `no filters: ${words}`);
  if (shotName) await shot(p, shotName, false);
  const [download] = await Promise.all([p.waitForEvent("download"), p.getByTestId("export-run").click()]);
  await until(async () => (await p.getByTestId("export-status").getAttribute("data-phase")) === "started", "the dialog says the download started");
  const file = await downloaded(download);
  await p.getByTestId("export-close").click();
  eq(await dialog.count(), 0, "the dialog closed");
  return file;
}

// ---------------------------------------------------------------------------------------------
// Tests

const tests = [];
const test = (name, fn) => tests.push({ name, fn });

let ctx;
let page;
let srv;
let dir;
const metrics = {};

test("without the launch token the page says how to sign in; the printed address signs in", async () => {
  await ctx.clearCookies();
  // An API call without a credential is refused with the JSON error body.
  const r = await fetch(srv.url + "/api/dashboard");
  eq(r.status, 401, "no token, no API");
  eq((await r.json()).code, "unauthorized", "the error code");
  await page.goto(srv.url + "/");
  await page.getByTestId("token-screen").waitFor();
  assert((await page.getByTestId("token-screen").innerText()).includes("?token="), "the screen names the address to open");
  await shot(page, "token", false);
  // A wrong token is refused; the printed address (pasted whole) signs in and leaves the bar.
  await page.getByTestId("token-input").fill(srv.open.replace(/token=\w+/, "token=wrong"));
  await page.getByTestId("token-submit").click();
  await until(async () => (await page.content()).includes("토큰"), "a wrong token gets a page that says so");
  await page.goto(srv.url + "/");
  await page.getByTestId("token-input").fill(srv.open);
  await page.getByTestId("token-submit").click();
  await page.getByTestId("source-total").waitFor();
  assert(!page.url().includes("token"), `the token left the address bar: ${page.url()}`);
  const cookies = await ctx.cookies(srv.url);
  const session = cookies.find((c) => c.name === "nas_sync_session");
  assert(session && session.httpOnly && session.sameSite === "Strict", `an HttpOnly SameSite=Strict session cookie: ${JSON.stringify(cookies)}`);
  assert(!session.value.includes(TOKEN), "the cookie is not the token");
});

test("onboarding: no NAS configured asks for the root and starts the demo archive", async () => {
  const empty = tempDir("nas-sync-e2e-empty-");
  fs.writeFileSync(path.join(empty, "nas-sync.toml"), 'archive_db = "archive.db"\nprobe_media = false\n');
  const s = await serve(empty);
  try {
    const p = await ctx.newPage();
    watchPage(p);
    await p.goto(s.url + "/");
    await p.getByTestId("onboarding").waitFor();
    assert(await p.getByLabel("NAS 루트 경로 (UNC)").isVisible(), "onboarding asks for the root");
    // The connection test says what is wrong with a path that does not exist.
    await p.getByLabel("NAS 루트 경로 (UNC)").fill(path.join(empty, "no-such-share"));
    await p.getByTestId("ob-test").click();
    await until(async () => (await p.getByRole("status").getAttribute("data-ok")) === "false", "test connection fails for a missing root");
    await shot(p, "onboarding");
    // Saving a NAS asks for the first admin PIN, or the explicit choice to run without one.
    await p.getByLabel("NAS 루트 경로 (UNC)").fill(path.join(empty, "share"));
    assert(await p.getByTestId("ob-save").isDisabled(), "no save without a PIN or the no-PIN choice");
    await p.getByTestId("ob-no-pin").check();
    assert(await p.getByTestId("ob-save").isEnabled(), "the no-PIN choice allows saving");
    await p.getByTestId("ob-no-pin").uncheck();
    await p.getByTestId("ob-demo").click();
    await p.getByTestId("source-total").waitFor();
    await until(async () => Number(await p.getByTestId("target-total").getAttribute("data-value")) > 0, "the demo's first sync reaches the Target");
    const d = cli(empty, ["dashboard"]);
    eq(Number(await p.getByTestId("source-total").getAttribute("data-value")), d.source.total_files, "demo source total");
    await p.close();
  } finally {
    await s.stop();
  }
});

test("job progress (phase, count, ETA) and cancel on a first sync of 6,000 files", async () => {
  const big = tempDir("nas-sync-e2e-big-");
  execFileSync(BIN, ["demo", "--dir", big, "--files", "6000"], { encoding: "utf8" });
  // Probing on (the demo's default): the first sync reads every video's headers, which takes a while.
  const s = await serve(big);
  try {
    const p = await ctx.newPage();
    watchPage(p);
    await p.goto(s.url + "/");
    await p.getByTestId("action-sync").click();
    const progress = p.getByTestId("job-progress");
    await progress.waitFor();
    await until(async () => /\d[\d,]* ?개 파일 확인/.test(await p.getByTestId("job-count").innerText({ timeout: 2000 })), "the count of files seen");
    const ptext = await progress.innerText();
    assert(/NAS 스캔 중|미디어 정보 읽는 중|Target 반영 중|시작 중|비교 중|마무리 중/.test(ptext), `a phase is named: ${ptext}`);
    assert(/남은 시간|경과/.test(await progress.innerText()), "ETA or elapsed time");
    assert(await p.getByTestId("action-sync").isDisabled(), "no second sync while one runs");
    await shot(p, "job-progress", false);
    const id = Number(await progress.getAttribute("data-job-id"));
    await p.getByTestId("job-cancel").click();
    // The engine decides what a cancel means in each phase (a probe pass stops early and the sync
    // still applies what it has); the screen must show the job's final state as the engine has it.
    const final = await until(async () => {
      const j = (await api(s.url, "GET", `/api/jobs/${id}`)).json;
      return j.state !== "running" && j;
    }, "the job ended after the cancel");
    await until(async () => (await p.getByTestId("job-result").getAttribute("data-state").catch(() => null)) === final.state, `the screen shows ${final.state}`);
    eq(await p.getByTestId("job-progress").count(), 0, "the progress panel is gone");
    if (final.state === "cancelled") eq(cli(big, ["dashboard"]).target.total_files, 0, "a cancelled first sync wrote nothing");
    metrics.cancelOutcome = final.state;
    await p.close();
  } finally {
    await s.stop();
  }
});

test("dashboard numbers equal `nas-sync dashboard --json`, first data within the budget", async () => {
  const d = cli(dir, ["dashboard"]);
  const t0 = Date.now();
  await page.goto(srv.url + "/");
  await page.getByTestId("source-total").waitFor();
  metrics.firstDataMs = Date.now() - t0;
  const nav = await page.evaluate(() => {
    const e = performance.getEntriesByType("navigation")[0];
    const p = performance.getEntriesByName("first-contentful-paint")[0];
    return { domContentLoaded: Math.round(e.domContentLoadedEventEnd), fcp: p ? Math.round(p.startTime) : null };
  });
  metrics.navigation = nav;
  const val = async (id) => Number(await page.getByTestId(id).getAttribute("data-value"));
  eq(await val("source-total"), d.source.total_files, "Source total");
  eq(await val("target-total"), d.target.total_files, "Target total (HLS registered)");
  eq(Number((await page.getByTestId("excluded-non-hls").innerText()).replace(/,/g, "")), d.target.excluded.non_hls, "non-HLS");
  eq(Number((await page.getByTestId("excluded-duplicates").innerText()).replace(/,/g, "")), d.target.excluded.duplicates, "duplicates");
  // Every number an operator can compare with the matching table's tabs is the same number.
  const num = async (id) => Number((await page.getByTestId(id).innerText()).replace(/,/g, ""));
  const shown = {
    nonHls: await num("excluded-non-hls"),
    other: await num("excluded-other"),
    duplicates: await num("excluded-duplicates"),
    pending: await num("pending-count"),
    copying: await num("copying-count"),
    source: await val("source-total"),
  };
  await page.getByTestId("nav-matching").click();
  const tab = async (s) => Number(await page.getByTestId(`tab-${s}`).getAttribute("data-count"));
  await until(async () => (await tab("all")) > 0, "the matching tabs have their counts");
  eq(shown.nonHls + shown.other, await tab("not_synced"), "비호환 영상 + 자막·기타 = the 미등록 tab");
  eq(shown.duplicates, await tab("duplicate"), "중복 = the 중복 tab");
  eq(shown.pending, (await tab("new")) + (await tab("changed")), "반영 대기 = 신규 + 변경 대기 tabs");
  eq(shown.copying, await tab("copying"), "복사 중 = the 복사 중 tab");
  eq(shown.source + (await tab("deleted")), await tab("all"), "전체 tab = NAS 아카이브 files + Target rows no file holds");
  eq(shown.source, d.source.total_files, "the Source total once more");
  await page.getByTestId("nav-dashboard").click();
  await page.getByTestId("source-total").waitFor();
  const bars = await page.getByTestId("catalog-bar").evaluateAll((els) => els.map((e) => [e.dataset.catalog, Number(e.dataset.count)]));
  const sorted = [...d.catalogs].sort((a, b) => b.count - a.count || a.id.localeCompare(b.id));
  const want = sorted.slice(0, 6).map((c) => [c.id, c.count]);
  const rest = sorted.slice(6).reduce((s, c) => s + c.count, 0);
  if (rest) want.push(["기타", rest]);
  eq(bars, want, "catalog bars (top 6 + 기타)");
  assert((await page.getByTestId("status-light").getAttribute("data-status")) === "ok", "status light is 정상");
  await page.getByTestId("status-light").hover();
  await page.getByTestId("status-details").waitFor();
  assert((await page.getByTestId("status-details").innerText()).includes("마지막 동기화"), "status details on hover");
  await page.mouse.move(0, 400);
  assert(metrics.firstDataMs < 5000, `first data on screen took ${metrics.firstDataMs} ms`);
  await shot(page, "dashboard");
});

test("reconcile shows a readable drift report", async () => {
  await page.getByTestId("action-reconcile").click();
  const report = page.getByTestId("drift-report");
  await report.waitFor();
  eq(await report.getAttribute("data-in-sync"), "true", "a fresh sync is in sync");
  assert((await report.innerText()).includes("차이 없음"), "report says 차이 없음");
  // The report as CSV, one row per finding: in sync, so only what is not drift (the demo's
  // ProRes clips that need transcoding).
  const r = cli(dir, ["reconcile"]);
  const findings = Object.values(r).reduce((n, v) => n + (Array.isArray(v?.items) ? v.items.length : 0), 0) + r.warnings.length;
  const csv = await exportFrom(page, "reconcile-export", { rows: findings });
  assert(/^nas-sync-reconcile-\d{8}-\d{4}\.csv$/.test(csv.name), `dated name: ${csv.name}`);
  eq(csv.header.slice(0, 3), ["구분", "구분 코드", "경로"], "the report's Korean header");
  eq(csv.rows.length, findings, "one row per finding");
  eq(csv.rows.filter((x) => x[1] === "needs_transcode").map((x) => x[2]).sort(), r.needs_transcode.items.map((i) => i.path).sort(), "the transcoding section");
});

test("matching table: tab counts, status filter, search, catalog, sort and pages in the URL", async () => {
  const all = cli(dir, ["matching"]);
  await page.getByTestId("nav-matching").click();
  await page.getByTestId("matching-table").waitFor();
  for (const [s, n] of Object.entries(all.summary.by_status)) {
    eq(Number(await page.getByTestId(`tab-${s}`).getAttribute("data-count")), n, `tab ${s} count`);
  }
  const paths = () => texts(page.getByTestId("source-path"));
  eq(await paths(), all.items.filter((i) => i.source).map((i) => i.source.path), "page 1 rows equal the CLI");
  // Status filter.
  await page.getByTestId("tab-not_synced").click();
  await until(async () => new URL(page.url()).searchParams.get("status") === "not_synced", "status in the URL");
  await until(async () => {
    const st = await page.getByTestId("matching-row").evaluateAll((els) => els.map((e) => e.dataset.status));
    return st.length > 0 && st.every((s) => s === "not_synced");
  }, "only not_synced rows");
  const reasons = await texts(page.getByTestId("reason"));
  eq(reasons.length, await page.getByTestId("matching-row").count(), "every non-synced row has a reason");
  assert(reasons.every((r) => r.length > 2), "reasons are not empty");
  // Pages: 20 per page, page 2 equals the CLI's page 2.
  await page.getByTestId("tab-all").click();
  await until(async () => !new URL(page.url()).searchParams.has("status"), "status cleared");
  const p2 = cli(dir, ["matching", "--page", "2"]);
  await page.getByTestId("page-2").click();
  await until(async () => new URL(page.url()).searchParams.get("page") === "2", "page 2 in the URL");
  await until(async () => JSON.stringify(await paths()) === JSON.stringify(p2.items.filter((i) => i.source).map((i) => i.source.path)), "page 2 rows equal the CLI");
  eq(await page.getByTestId("matching-row").count(), 20, "20 rows per page");
  // Sort by size, descending (second click).
  await page.getByTestId("sort-size").click();
  await until(async () => new URL(page.url()).searchParams.get("sort") === "size", "sort in the URL");
  await page.getByTestId("sort-size").click();
  await until(async () => new URL(page.url()).searchParams.get("desc") === "1", "desc in the URL");
  const bySize = cli(dir, ["matching", "--sort", "size", "--desc"]);
  await until(async () => JSON.stringify(await paths()) === JSON.stringify(bySize.items.filter((i) => i.source).map((i) => i.source.path)), "size-desc rows equal the CLI");
  // Catalog + search.
  await page.getByTestId("catalog-filter").selectOption("WSOP");
  await page.getByTestId("search").fill("Day1");
  await until(async () => new URL(page.url()).searchParams.get("search") === "Day1", "search in the URL");
  const want = cli(dir, ["matching", "--catalog", "WSOP", "--search", "Day1", "--sort", "size", "--desc"]);
  await until(async () => JSON.stringify(await paths()) === JSON.stringify(want.items.filter((i) => i.source).map((i) => i.source.path)), "filtered rows equal the CLI");
  eq(Number(await page.getByTestId("matching-total").getAttribute("data-total")), want.total, "filtered total");
  // The state survives a reload (it is the URL).
  const before = page.url();
  await page.reload();
  await page.getByTestId("matching-table").waitFor();
  eq(page.url(), before, "URL kept");
  eq(await page.getByTestId("search").inputValue(), "Day1", "search kept after reload");
  await until(async () => JSON.stringify(await paths()) === JSON.stringify(want.items.filter((i) => i.source).map((i) => i.source.path)), "rows kept after reload");
  // Copy a row's path (to paste into Explorer): the clipboard holds exactly that path.
  const firstRow = page.getByTestId("matching-row").first();
  await firstRow.hover();
  await firstRow.getByTestId("copy-path").click();
  await until(async () => (await firstRow.getByTestId("copy-path").innerText()).includes("복사됨"), "the button says 복사됨");
  eq(await page.evaluate(() => navigator.clipboard.readText()), (await paths())[0], "the clipboard holds the row's path");
  // No results.
  await page.getByTestId("search").fill("없는파일이름zzz");
  await page.getByTestId("matching-empty").waitFor();
  // Duplicates expand.
  await page.goto(srv.url + "/matching?status=synced_with_duplicates");
  await page.getByTestId("dup-toggle").first().click();
  await page.getByTestId("dup-list").first().waitFor();
  await page.goto(srv.url + "/matching");
  await page.getByTestId("matching-table").waitFor();
  await shot(page, "matching-table");
});

test("CSV export of the matching table with a filter: every page, BOM, Korean header, the table's count", async () => {
  await page.goto(srv.url + "/matching?status=synced&catalog=WSOP&sort=size&desc=1");
  await page.getByTestId("matching-table").waitFor();
  const want = cli(dir, ["matching", "--status", "synced", "--catalog", "WSOP", "--sort", "size", "--desc", "--per-page", "200"]);
  await until(async () => Number(await page.getByTestId("matching-total").getAttribute("data-total")) === want.total, "the table's total");
  assert(want.total > 20 && want.total <= 200, `more than one page, within one CLI page: ${want.total}`);
  const csv = await exportFrom(page, "matching-export", {
    rows: want.total,
    filters: ["상태: 동기화됨", "카탈로그: WSOP", "정렬: 크기 내림차순"],
    shotName: "export-dialog",
  });
  assert(/^nas-sync-matching-\d{8}-\d{4}\.csv$/.test(csv.name), `dated name: ${csv.name}`);
  eq(csv.header.slice(0, 6), ["상태", "상태 코드", "사유", "사유 코드", "카탈로그", "NAS 경로 (원본)"], "Korean header");
  eq(csv.header[7], "수정 시각 (UTC+09:00)", "times in the browser's zone (Asia/Seoul)");
  eq(csv.rows.length, want.total, "every row of every page, not the 20 shown");
  assert(csv.rows.every((r) => r[1] === "synced" && r[4] === "WSOP" && r.length === csv.header.length), "only the filtered rows");
  eq(csv.rows.map((r) => r[5]), want.items.map((i) => i.source.path), "the table's order (size, descending)");
  // English headers when asked.
  await page.getByTestId("matching-export").click();
  await page.getByTestId("export-lang").selectOption("en");
  const [d] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-run").click()]);
  const en = await downloaded(d);
  eq(en.header.slice(0, 2), ["Status", "Status code"], "English header");
  eq(en.rows.length, want.total, "the same rows");
  await page.getByTestId("export-close").click();
});

test("matching filters: 제외 사유, 확장자, 코덱 and 같은 이름·다른 크기 pick rows as the CLI does, in the URL", async () => {
  const facets = cli(dir, ["matching", "--facets"]);
  const srcPaths = (j) => j.items.filter((i) => i.source).map((i) => i.source.path);
  const paths = () => texts(page.getByTestId("source-path"));
  const param = (k) => new URL(page.url()).searchParams.get(k);
  const total = async () => Number(await page.getByTestId("matching-total").getAttribute("data-total"));
  await page.goto(srv.url + "/matching");
  await page.getByTestId("matching-table").waitFor();
  // The lists offer what the archive has, with the counts of the whole table.
  await until(async () => (await page.getByTestId("ext-filter").locator("option").count()) === facets.extensions.length + 1, "the extension list is filled");
  eq((await page.getByTestId("ext-filter").locator("option").allInnerTexts()).slice(1), facets.extensions.map((e) => `.${e.value} (${e.count})`), "extension options");
  eq((await page.getByTestId("codec-filter").locator("option").allInnerTexts()).slice(1), facets.codecs.map((c) => `${c.value} (${c.count})`), "codec options");
  eq((await page.getByTestId("reason-filter").locator("option").allInnerTexts()).length, 6, "전체 + five reasons");
  // 제외 사유: mxf.
  await page.getByTestId("reason-filter").selectOption("mxf");
  await until(async () => param("reason") === "mxf", "reason in the URL");
  let want = cli(dir, ["matching", "--reason", "mxf"]);
  assert(want.total > 0, "the demo has mxf files");
  eq(want.total, facets.reasons.find((r) => r.value === "mxf").count, "the list's count is what the filter finds");
  await until(async () => JSON.stringify(await paths()) === JSON.stringify(srcPaths(want)), "mxf rows equal the CLI");
  eq(await total(), want.total, "mxf total");
  const st = await page.getByTestId("matching-row").evaluateAll((els) => els.map((e) => e.dataset.status));
  assert(st.every((s) => s === "not_synced"), `excluded files only: ${st}`);
  assert((await paths()).every((p) => p.toLowerCase().endsWith(".mxf")), "only .mxf files");
  // 확장자 + 코덱 together (the reason cleared).
  const codec = facets.codecs[0].value;
  await page.getByTestId("reason-filter").selectOption("");
  await page.getByTestId("ext-filter").selectOption("mp4");
  await page.getByTestId("codec-filter").selectOption(codec);
  await until(async () => !param("reason") && param("ext") === "mp4" && param("codec") === codec, "ext and codec in the URL");
  want = cli(dir, ["matching", "--ext", "mp4", "--codec", codec]);
  await until(async () => JSON.stringify(await paths()) === JSON.stringify(srcPaths(want)), "mp4 + codec rows equal the CLI");
  await until(async () => (await total()) === want.total, "mp4 + codec total");
  await page.getByTestId("clear-value-filters").click();
  await until(async () => !param("ext") && !param("codec"), "filters cleared from the URL");
  // 같은 이름·다른 크기: the demo's two events' Part1.mp4 (and any other name collision).
  await page.getByTestId("collision-filter").click();
  await until(async () => param("collision") === "1", "collision in the URL");
  want = cli(dir, ["matching", "--collision"]);
  eq(want.total, facets.name_collisions, "the filter finds the counted collisions");
  assert(srcPaths(want).includes("WSOP/2024/Main Event/Part1.mp4") && srcPaths(want).includes("WSOP/2024/Ladies Event/Part1.mp4"), `the Part1.mp4 pair: ${srcPaths(want)}`);
  await until(async () => JSON.stringify(await paths()) === JSON.stringify(srcPaths(want)), "collision rows equal the CLI");
  eq(await page.getByTestId("collision-filter").getAttribute("aria-pressed"), "true", "the toggle shows it is on");
  eq(Number((await page.getByTestId("collision-filter-count").innerText()).replace(/,/g, "")), facets.name_collisions, "the toggle's count");
  eq(await page.getByTestId("collision-flag").count(), await page.getByTestId("matching-row").count(), "every row carries the flag");
  // The flag says what it means: a name collision, not a copy.
  const flag = page.locator('[data-testid="matching-row"]', { hasText: "Main Event/Part1.mp4" }).getByTestId("collision-flag");
  await flag.hover();
  const tip = flag.getByTestId("collision-tooltip");
  await until(async () => await tip.isVisible(), "the tooltip shows on hover");
  assert((await tip.innerText()).includes("사본이 아니라"), "the tooltip says it is not a copy");
  // A copy is not flagged: the demo's backups are byte copies.
  assert(srcPaths(want).every((p) => !p.includes("/Backup/")), "no backup copy is flagged");
  // The filters survive a reload (they are the URL).
  const before = page.url();
  await page.reload();
  await page.getByTestId("matching-table").waitFor();
  eq(page.url(), before, "URL kept");
  await until(async () => JSON.stringify(await paths()) === JSON.stringify(srcPaths(want)), "rows kept after reload");
  // With an extension too (the lists show which filters are on), for the screenshot.
  await page.getByTestId("ext-filter").selectOption("mp4");
  await until(async () => param("ext") === "mp4" && param("collision") === "1", "ext and collision in the URL");
  want = cli(dir, ["matching", "--collision", "--ext", "mp4"]);
  await until(async () => JSON.stringify(await paths()) === JSON.stringify(srcPaths(want)), "collision + mp4 rows equal the CLI");
  await flag.hover();
  await until(async () => await tip.isVisible(), "the tooltip shows on hover after the reload");
  await shot(page, "matching-filters", false);
  await page.mouse.move(0, 0);
});

test("dashboard: 같은 이름 다른 크기 N건 opens the table filtered to the name collisions", async () => {
  const facets = cli(dir, ["matching", "--facets"]);
  assert(facets.name_collisions > 0, "the demo has name collisions");
  await page.goto(srv.url + "/");
  const link = page.getByTestId("dashboard-collisions");
  await link.waitFor();
  eq(Number(await link.getAttribute("data-count")), facets.name_collisions, "the dashboard's count");
  assert((await link.innerText()).includes(`같은 이름 다른 크기 ${facets.name_collisions}건`), await link.innerText());
  await link.click();
  await until(async () => new URL(page.url()).pathname.endsWith("/matching") && new URL(page.url()).searchParams.get("collision") === "1", "the table with the collision filter");
  await page.getByTestId("matching-table").waitFor();
  await until(async () => Number(await page.getByTestId("matching-total").getAttribute("data-total")) === facets.name_collisions, "the table counts the same collisions");
  eq(await page.getByTestId("collision-filter").getAttribute("aria-pressed"), "true", "the filter is on");
  eq(await page.getByTestId("collision-flag").count(), await page.getByTestId("matching-row").count(), "every row is flagged");
});

test("tree view: lazy folders with counts, Source vs Target", async () => {
  const root = cli(dir, ["tree", "--path", ""]);
  await page.goto(srv.url + "/matching");
  await page.getByTestId("toggle-tree").click();
  await until(async () => new URL(page.url()).searchParams.get("view") === "tree", "view=tree in the URL");
  await page.getByTestId("tree-dir").first().waitFor();
  const dirs = await page.getByTestId("tree-dir").evaluateAll((els) => els.map((e) => e.dataset.path));
  eq(dirs, root.directories.map((d) => d.path), "catalog folders equal the CLI");
  await page.locator('[data-testid="tree-dir"][data-path="WSOP"]').click();
  const wsop = cli(dir, ["tree", "--path", "WSOP"]);
  await until(async () => (await page.locator('[data-testid="tree-dir"][data-path^="WSOP/"]').count()) === wsop.directories.length, "WSOP's sub-folders load when it opens");
  // Down the first folder of each level until one holds files.
  let node = wsop;
  for (let level = 0; level < 8 && node.files.length === 0 && node.directories.length; level++) {
    const next = node.directories[0];
    const row = page.locator(`[data-testid="tree-dir"][data-path="${next.path}"]`);
    await row.waitFor();
    await row.click();
    node = cli(dir, ["tree", "--path", next.path]);
  }
  assert(node.files.length > 0, "a folder with files was reached");
  await page.getByTestId("tree-file").first().waitFor();
  assert((await page.getByTestId("tree-file").first().innerText()).match(/ID:\d+|미등록|중복/), "a file row shows its Target side");
  await shot(page, "matching-tree");
});

test("a sync from the UI after adding files: log lines, new rows, history entries", async () => {
  const src = cli(dir, ["matching", "--catalog", "WSOP", "--status", "synced"]).items[0].source.path;
  const root = path.join(dir, "archive");
  const added = ["E2E_신규_에피소드_1.mp4", "E2E_신규_에피소드_2.mp4", "E2E_신규_에피소드_3.mov"];
  fs.mkdirSync(path.join(root, "WSOP", "2026"), { recursive: true });
  for (const [i, name] of added.entries()) {
    const data = Buffer.concat([fs.readFileSync(path.join(root, src)), Buffer.from(`e2e-${i}`)]);
    fs.writeFileSync(path.join(root, "WSOP", "2026", name), data);
    atRest(path.join(root, "WSOP", "2026", name));
  }
  await page.getByTestId("nav-dashboard").click();
  await page.getByTestId("action-sync").click();
  const result = page.getByTestId("job-result");
  await until(async () => (await result.getAttribute("data-state")) === "succeeded", "the sync finished");
  const jobs = (await api(srv.url, "GET", "/api/jobs")).json;
  const job = jobs.reduce((a, j) => (a && a.id > j.id ? a : j), null);
  eq(job.result.added, added.length, "the sync added the new files");
  assert((await page.getByTestId("job-result-counts").innerText()).includes(`추가 ${added.length}`), "result shows 추가 3");
  await until(async () => Number(await page.getByTestId("target-total").getAttribute("data-value")) === cli(dir, ["dashboard"]).target.total_files, "dashboard refreshed after the job");
  // Live log.
  await page.getByTestId("nav-logs").click();
  // The engine's wording of the finish line ("동기화 완료" / "동기화 작업 #N 끝") may change.
  const finished = /동기화 완료|동기화 작업 #\d+ 끝|sync (job )?finished/;
  await until(async () => (await logTexts()).some((l) => finished.test(l)), "log shows the sync finished");
  // Search: only the lines that contain the words, in the language shown.
  await page.getByTestId("log-search").fill("동기화 완료");
  await until(async () => {
    const shown = await logTexts();
    return shown.length > 0 && shown.every((l) => l.includes("동기화 완료"));
  }, "the search keeps only matching lines");
  assert((await logTexts()).every((l) => !l.includes(" / ")), "Korean only, not both languages joined");
  await page.getByTestId("log-search").fill("");
  const lines = await logTexts();
  assert(lines.some((l) => l.includes("동기화 시작")), "log shows 동기화 시작");
  await shot(page, "logs", false);
  // New rows in the matching table.
  await page.goto(srv.url + "/matching?search=E2E_");
  await until(async () => (await page.getByTestId("matching-row").count()) === added.length, "the new files are rows");
  const st = await page.getByTestId("matching-row").evaluateAll((els) => els.map((e) => e.dataset.status));
  assert(st.every((s) => s === "synced"), `new rows synced: ${st}`);
  const ids = await texts(page.getByTestId("target-id"));
  assert(ids.every((i) => /^\d+$/.test(i.trim())), `new rows have Target ids: ${ids}`);
  // History entries.
  await page.getByTestId("nav-history").click();
  await page.getByTestId("history-table").waitFor();
  const rows = await page.getByTestId("history-row").evaluateAll((els) => els.slice(0, 3).map((e) => [e.dataset.event, e.querySelector("[data-testid=history-path]").textContent]));
  eq(rows.map((r) => r[0]), ["added", "added", "added"], "newest history rows are 추가");
  eq(rows.map((r) => r[1]).sort(), [...added].sort(), "history names the new files");
  assert((await page.getByTestId("history-row").first().innerText()).includes("방금 전"), "relative time 방금 전");
  await page.getByTestId("hist-event-deleted").click();
  await until(async () => new URL(page.url()).searchParams.get("event") === "deleted", "event filter in the URL");
  await page.getByTestId("history-empty").waitFor();
  await page.getByTestId("hist-event-all").click();
  await page.getByTestId("history-table").waitFor();
  // Paged on the server: the total and page 2 are the CLI's.
  const all = cli(dir, ["history", "--limit", "20", "--offset", "20"]);
  await until(async () => Number(await page.getByTestId("history-total").getAttribute("data-value")) === all.total, `history total ${all.total}`);
  assert(all.total > 20, `the demo has more than one page of history (${all.total})`);
  await shot(page, "history");
  await page.getByRole("button", { name: "2", exact: true }).click();
  await until(async () => new URL(page.url()).searchParams.get("page") === "2", "page 2 in the URL");
  const names = all.items.map((h) => h.path.split("/").pop());
  await until(
    async () => JSON.stringify(await page.getByTestId("history-path").allTextContents()) === JSON.stringify(names),
    "page 2 shows the CLI's rows 21-40",
  );
});

test("history search (Hangul, NFC/NFD alike on the server) and the CSV export of the searched history", async () => {
  await page.goto(srv.url + "/history");
  await page.getByTestId("history-table").waitFor();
  const everything = cli(dir, ["history", "--limit", "1"]).total;
  await page.getByTestId("hist-search").fill("에피소드");
  await until(async () => new URL(page.url()).searchParams.get("search") === "에피소드", "search in the URL");
  const want = cli(dir, ["history", "--search", "에피소드", "--limit", "20"]);
  assert(want.total > 20 && want.total < everything, `a search that narrows to more than a page: ${want.total} of ${everything}`);
  await until(async () => Number(await page.getByTestId("history-total").getAttribute("data-value")) === want.total, `searched total ${want.total}`);
  const names = want.items.map((i) => i.path.split("/").pop());
  await until(async () => JSON.stringify(await page.getByTestId("history-path").allTextContents()) === JSON.stringify(names), "the rows the CLI finds");
  // The same term typed as a Mac sends it (NFD) finds the same rows.
  await page.getByTestId("hist-search").fill("에피소드".normalize("NFD"));
  await until(async () => new URL(page.url()).searchParams.get("search") === "에피소드".normalize("NFD"), "NFD search in the URL");
  await until(async () => Number(await page.getByTestId("history-total").getAttribute("data-value")) === want.total, "NFD finds as many");
  await page.getByTestId("hist-search").fill("에피소드");
  await until(async () => new URL(page.url()).searchParams.get("search") === "에피소드", "search back to NFC");
  const csv = await exportFrom(page, "history-export", { rows: want.total, filters: ['검색: "에피소드"'] });
  assert(/^nas-sync-history-\d{8}-\d{4}\.csv$/.test(csv.name), `dated name: ${csv.name}`);
  eq(csv.header, ["시간 (UTC+09:00)", "이벤트", "이벤트 코드", "카탈로그", "경로", "이전 경로", "대상 ID", "이력 ID"], "Korean header");
  eq(csv.rows.length, want.total, "every searched row, not one page");
  assert(csv.rows.every((r) => r[4].includes("에피소드") || r[5].includes("에피소드")), "only rows whose path has the term");
  eq(csv.rows.slice(0, 20).map((r) => Number(r[7])), want.items.map((i) => i.id), "newest first, as the screen");
  assert(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/.test(csv.rows[0][0]), `YYYY-MM-DD HH:mm: ${csv.rows[0][0]}`);
  // Nothing found.
  await page.getByTestId("hist-search").fill("없는파일zzz");
  await page.getByTestId("history-empty").waitFor();
  await page.getByTestId("hist-search").fill("");
  await page.getByTestId("history-table").waitFor();
});

test("mass-delete guard: the refused sync shows the numbers, review, then force applies", async () => {
  const root = path.join(dir, "archive");
  for (const d of ["HCL", "WSOP/2021", "WSOP/2022"]) fs.rmSync(path.join(root, d), { recursive: true, force: true });
  const activeBefore = cli(dir, ["dashboard"]).target.total_files;
  await page.getByTestId("nav-dashboard").click();
  await page.getByTestId("action-sync").click();
  const panel = page.getByTestId("guard-panel");
  await panel.waitFor();
  const jobs = (await api(srv.url, "GET", "/api/jobs")).json;
  const job = jobs.reduce((a, j) => (a && a.id > j.id ? a : j), null);
  eq(job.state, "refused", "the job was refused");
  const numbers = await page.getByTestId("guard-numbers").innerText();
  assert(numbers.includes(`${activeBefore}건 중 ${job.result.deleted}건`), `guard numbers: ${numbers}`);
  eq(cli(dir, ["dashboard"]).target.total_files, activeBefore, "nothing was applied");
  await page.getByTestId("guard-review").click();
  await page.getByTestId("guard-review-panel").waitFor();
  assert(await page.getByTestId("guard-force").isDisabled(), "force needs the confirmation");
  await shot(page, "guard");
  await page.getByTestId("guard-confirm").check();
  await page.getByTestId("guard-force").click();
  // Apply anyway is an administrator's action and the demo has no PIN yet: the engine refuses
  // it and the screen says where to set one; nothing was applied.
  await page.getByTestId("admin-pin-not-set").waitFor();
  eq(cli(dir, ["dashboard"]).target.total_files, activeBefore, "nothing was applied without an admin");
  await shot(page, "admin-pin-not-set", false);
  // The local user chooses to run without a PIN (the later test sets one).
  eq((await api(srv.url, "PUT", "/api/settings", { no_admin_pin: true })).status, 200, "the no-PIN choice");
  await page.getByTestId("guard-force").click();
  await until(async () => (await page.getByTestId("job-result").getAttribute("data-state").catch(() => null)) === "succeeded", "the forced sync applied");
  eq(cli(dir, ["dashboard"]).target.total_files, activeBefore - job.result.deleted + job.result.added, "the Target lost exactly the reviewed rows");
  await until(async () => (await page.getByTestId("guard-panel").count()) === 0, "the guard panel is gone");
  // The refusal is a WARN line in the live log (yellow), next to the sync's INFO lines.
  await page.getByTestId("nav-logs").click();
  await until(async () => (await page.locator('[data-testid="log-line"][data-level="WARN"]').count()) > 0, "a WARN line for the refusal");
  await shot(page, "logs", false);
});

test("share unreachable: the sync stops, says what to check, the light shows 에러 until it is back", async () => {
  const root = path.join(dir, "archive");
  const away = `${root}.away`;
  fs.renameSync(root, away);
  try {
    await page.getByTestId("nav-dashboard").click();
    await page.getByTestId("action-sync").click();
    const panel = page.getByTestId("offline-panel");
    await panel.waitFor();
    assert((await panel.innerText()).includes("NAS 공유 폴더"), "the panel names the share");
    // The engine checks the root on /health (the page asks every 30 s; the test asks now).
    eq((await fetch(srv.url + "/health")).status, 503, "health is 503 without the share");
    await until(async () => (await page.getByTestId("status-light").getAttribute("data-status")) === "error", "the light turns 에러");
    await page.getByTestId("status-light").click();
    await until(async () => (await page.getByTestId("last-error").innerText()).includes("NAS"), "the last error is shown on click");
    await shot(page, "share-unreachable", false);
    await page.keyboard.press("Escape");
  } finally {
    if (fs.existsSync(away)) fs.renameSync(away, root);
  }
  eq((await fetch(srv.url + "/health")).status, 200, "health is back");
  await until(async () => (await page.getByTestId("status-light").getAttribute("data-status")) === "ok", "the light is 정상 again");
  await page.getByTestId("offline-retry").click();
  await until(async () => (await page.getByTestId("job-result").getAttribute("data-state").catch(() => null)) === "succeeded", "the retry applied");
  eq(await page.getByTestId("offline-panel").count(), 0, "the panel is gone");
});

test("Target locked: another program holds pokervod.db, the sync gives up and says so", async () => {
  const hasPython = (() => {
    try {
      execFileSync("python3", ["-c", "import sqlite3"]);
      return true;
    } catch {
      return false;
    }
  })();
  assert(hasPython, "python3 with sqlite3 is needed to hold the Target's write lock");
  const cfg = await api(srv.url, "PUT", "/api/settings", { busy_timeout_secs: 1 });
  eq(cfg.status, 200, "short busy timeout set");
  // A new file so the sync has something to write.
  const root = path.join(dir, "archive");
  const src = cli(dir, ["matching", "--catalog", "PAD", "--status", "synced"]).items[0].source.path;
  fs.writeFileSync(path.join(root, "PAD", "E2E_잠김_테스트.mp4"), Buffer.concat([fs.readFileSync(path.join(root, src)), Buffer.from("lock")]));
  atRest(path.join(root, "PAD", "E2E_잠김_테스트.mp4"));
  // The dashboard is on screen before the lock: while another program holds pokervod.db in
  // its own (rollback) journal mode, even reads wait, and a page loaded then says so instead.
  await page.goto(srv.url + "/");
  await page.getByTestId("action-sync").waitFor();
  const holder = spawn(
    "python3",
    ["-c", "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1],isolation_level=None)\nc.execute('BEGIN EXCLUSIVE')\nprint('locked',flush=True)\nsys.stdin.read()", path.join(dir, "pokervod.db")],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  try {
    await new Promise((resolve, reject) => {
      holder.stdout.on("data", (d) => String(d).includes("locked") && resolve());
      holder.on("exit", (c) => reject(new Error(`lock holder exited ${c}`)));
    });
    // A page (re)loaded now says the Target is locked, with a retry.
    const other = await ctx.newPage();
    await other.goto(srv.url + "/");
    await other.getByTestId("error-target-locked").waitFor();
    await other.close();
    await page.getByTestId("action-sync").click();
    await page.getByTestId("target-locked").waitFor();
    eq(await page.getByTestId("job-result").getAttribute("data-state"), "failed", "the job failed");
    await shot(page, "target-locked", false);
  } finally {
    holder.stdin.end();
    await new Promise((r) => (holder.exitCode !== null ? r() : holder.once("exit", r)));
  }
  await api(srv.url, "PUT", "/api/settings", { busy_timeout_secs: 30 });
  await page.getByTestId("action-sync").click();
  await until(async () => (await page.getByTestId("job-result").getAttribute("data-state").catch(() => null)) === "succeeded", "the next sync applies once the lock is gone");
  eq(await page.getByTestId("target-locked").count(), 0, "the locked notice is gone");
});

test("settings: field-level validation messages from the server, then a valid save", async () => {
  const cfgPath = path.join(dir, "nas-sync.toml");
  const before = fs.readFileSync(cfgPath, "utf8");
  await page.getByTestId("nav-settings").click();
  await page.getByTestId("s-interval_minutes").fill("0");
  await page.getByTestId("s-max_delete_percent").fill("500");
  await page.getByTestId("s-save").click();
  await page.locator("#s-interval_minutes-error").waitFor();
  const bad = await api(srv.url, "PUT", "/api/settings", { interval_minutes: 0, max_delete_percent: 500 });
  const msg = Object.fromEntries(bad.json.errors.map((e) => [e.field, e.message]));
  // The server's check, said in Korean under its field.
  assert(/between 1 and 1440 \(got 0\)/.test(msg.interval_minutes), `server message: ${msg.interval_minutes}`);
  eq(await page.locator("#s-interval_minutes-error").innerText(), "1–1440 사이의 값이어야 합니다 (입력값: 0)", "interval message under its field");
  eq(await page.locator("#s-max_delete_percent-error").innerText(), "0–100 사이의 값이어야 합니다 (입력값: 500)", "percent message under its field");
  eq(await page.getByTestId("s-interval_minutes").getAttribute("aria-invalid"), "true", "field marked invalid");
  eq(fs.readFileSync(cfgPath, "utf8"), before, "an invalid save writes nothing");
  await page.getByTestId("s-test-root").click();
  await until(async () => (await page.getByTestId("s-test-result").getAttribute("data-ok")) === "true", "test connection succeeds for the demo root");
  await shot(page, "settings", false);
  await page.getByTestId("s-interval_minutes").fill("15");
  await page.getByTestId("s-max_delete_percent").fill("10");
  await page.getByTestId("s-save").click();
  await page.getByTestId("s-notice").waitFor();
  assert(fs.readFileSync(cfgPath, "utf8").includes("interval_minutes = 15"), "the valid value was saved");
  eq(await page.locator("#s-interval_minutes-error").count(), 0, "errors cleared");
});

test("admin PIN: set in settings (stored hashed), then 스캔 실행 asks for it", async () => {
  const cfgPath = path.join(dir, "nas-sync.toml");
  await page.getByTestId("nav-settings").click();
  await page.getByTestId("s-admin_pin").fill("12ab");
  await page.getByTestId("s-save").click();
  await page.locator("#s-admin_pin-error").waitFor();
  assert(!fs.readFileSync(cfgPath, "utf8").includes("admin_pin_hash"), "an invalid PIN is not saved");
  await page.getByTestId("s-admin_pin").fill("2468");
  await page.getByTestId("s-save").click();
  await page.getByTestId("s-notice").waitFor();
  const saved = fs.readFileSync(cfgPath, "utf8");
  assert(/admin_pin_hash = "\$argon2id\$/.test(saved), "the PIN is stored as an Argon2id hash");
  assert(!saved.includes("2468"), "the PIN itself is not in the settings file");
  const view = await api(srv.url, "GET", "/api/settings");
  eq(view.json.admin_pin_set, true, "GET /api/settings says a PIN is set");
  assert(!JSON.stringify(view.json).includes("argon2"), "the hash is never returned");
  await page.getByTestId("s-admin_pin_current").waitFor();

  await page.getByTestId("nav-dashboard").click();
  await page.getByTestId("action-scan").click();
  await page.getByTestId("pin-prompt").waitFor();
  await page.getByTestId("pin-input").fill("1111");
  await page.getByTestId("pin-submit").click();
  await page.getByTestId("pin-error").waitFor();
  const jobsBefore = (await api(srv.url, "GET", "/api/jobs")).json.filter((j) => j.kind === "scan").length;
  await shot(page, "admin-pin", false);
  await page.getByTestId("pin-input").fill("2468");
  await page.getByTestId("pin-submit").click();
  await until(async () => (await page.getByTestId("pin-prompt").count()) === 0, "the prompt closes on the right PIN");
  await until(
    async () => (await api(srv.url, "GET", "/api/jobs")).json.filter((j) => j.kind === "scan").length > jobsBefore,
    "the unlocked 스캔 실행 starts a scan job",
  );
  await until(async () => (await api(srv.url, "GET", "/api/status")).json.job == null, "the scan finishes");
});

/** Start a sync over the API and wait for its job to end; the job (with its report). */
async function syncDone(what) {
  const started = await api(srv.url, "POST", "/api/sync");
  eq(started.status, 202, `${what}: sync started`);
  return until(async () => {
    const j = (await api(srv.url, "GET", `/api/jobs/${started.json.job_id}`)).json;
    return j.state !== "running" && j;
  }, `${what}: the sync finished`);
}

test("a file still being copied: 복사 중 badge with its size, tab and dashboard counts, then published once", async () => {
  const root = path.join(dir, "archive");
  const file = path.join(root, "WSOP", "E2E_복사_중.mp4");
  fs.writeFileSync(file, Buffer.alloc(3 * 1024 * 1024, 7)); // mtime now: looks mid-copy
  const held = await syncDone("held");
  eq(held.result.held, 1, "the sync held the file back");
  eq(cli(dir, ["matching", "--search", "E2E_복사_중"]).items[0].status, "copying", "the CLI says copying");
  await page.goto(srv.url + "/matching?status=copying");
  await until(async () => (await page.getByTestId("matching-row").count()) === 1, "one copying row");
  const row = page.getByTestId("matching-row").first();
  eq(await row.getAttribute("data-status"), "copying", "row status");
  assert((await row.innerText()).includes("복사 중"), "the badge says 복사 중");
  eq((await row.getByTestId("copying-size").innerText()).replace(/\s+/g, " ").trim(), "· 3.0 MB", "the badge shows the current size");
  eq(Number(await page.getByTestId("tab-copying").getAttribute("data-count")), 1, "the copying tab counts it");
  await page.getByTestId("nav-dashboard").click();
  await until(async () => (await page.getByTestId("copying-count").innerText()).trim() === "1", "the dashboard counts it");
  // The copy finished an hour ago: the next sync publishes it.
  atRest(file);
  const published = await syncDone("published");
  eq([published.result.added, published.result.held], [1, 0], "published once");
  eq(cli(dir, ["matching", "--search", "E2E_복사_중"]).items[0].status, "synced", "now synced");
  await until(async () => (await page.getByTestId("copying-count").innerText()).trim() === "0", "the dashboard count is back to 0");
});

test("problems: a skipped name shows 경고, 문제 1건 on the dashboard and in the list, then goes away", async () => {
  const wsop = path.join(dir, "archive", "WSOP");
  // A name that is not UTF-8 (a file copied from an old system): the scan skips it and says so.
  const bad = Buffer.concat([Buffer.from(wsop + "/E2E_bad_"), Buffer.from([0xff]), Buffer.from(".mp4")]);
  fs.writeFileSync(bad, "x");
  atRest(bad);
  eq((await syncDone("with the bad name")).state, "succeeded", "a skipped name does not fail the sync");
  const listed = (await api(srv.url, "GET", "/api/problems")).json;
  eq(listed.total, 1, "GET /api/problems lists it");
  eq([listed.items[0].kind, listed.items[0].path], ["invalid_name", "WSOP/E2E_bad_\ufffd.mp4"], "kind and path");
  eq(cli(dir, ["problems"]).total, 1, "nas-sync problems --json lists it");
  await page.goto(srv.url + "/");
  await until(async () => (await page.getByTestId("status-light").getAttribute("data-status")) === "warning", "the light is 경고");
  eq((await page.getByTestId("status-light").innerText()).trim(), "경고", "the light says 경고");
  await until(async () => (await page.getByTestId("sync-card-problems").count()) === 1, "the sync card shows the problems");
  assert((await page.getByTestId("sync-card-problems").innerText()).includes("문제 1건"), "문제 1건 on the sync card");
  eq((await page.getByTestId("nav-problems-count").innerText()).trim(), "1", "the nav counts it");
  await shot(page, "dashboard-problems", false);
  await page.getByTestId("sync-card-problems").click();
  await until(async () => (await page.getByTestId("problem-row").count()) === 1, "one problem row");
  const row = page.getByTestId("problem-row").first();
  const text = await row.innerText();
  assert(text.includes("이름을 읽을 수 없어 건너뜀"), `the problem in Korean: ${text}`);
  assert(text.includes("NAS에서 이름을 바꾸면"), `what to do: ${text}`);
  assert(text.includes("WSOP/E2E_bad_"), `the path: ${text}`);
  assert(/처음 발견 \d{4}-\d{2}-\d{2} \d{2}:\d{2}/.test(text), `since when, local time: ${text}`);
  assert(/스캔 #\d+/.test(text), `which scan: ${text}`);
  await row.getByRole("button", { name: "자세히 보기" }).click();
  assert((await row.getByTestId("problem-detail").innerText()).length > 0, "the engine's detail on demand");
  await shot(page, "problems", false);
  eq(await row.getByTestId("open-folder").count(), 0, "폴더 열기 is the desktop app's (the web has no desktop to open)");
  // Renamed on the NAS, and meanwhile a file arrives in another folder. 이 파일 다시 시도 reads
  // only WSOP again: the renamed file is synced and the problem is gone everywhere, while the
  // other folder waits for the next full sync.
  fs.renameSync(bad, path.join(wsop, "E2E_bad_renamed.mp4"));
  const elsewhere = path.join(dir, "archive", "HCL", "E2E_elsewhere.mp4");
  fs.mkdirSync(path.dirname(elsewhere), { recursive: true });
  fs.writeFileSync(elsewhere, "y");
  atRest(elsewhere);
  const before = (await api(srv.url, "GET", "/api/jobs")).json.map((j) => j.id);
  await row.getByTestId("problem-retry").click();
  const retried = await until(async () => {
    const j = (await api(srv.url, "GET", "/api/jobs")).json.find((j) => !before.includes(j.id));
    return j && j.state !== "running" && j;
  }, "the retry's sync finished");
  eq([retried.kind, retried.state, retried.result.added], ["sync", "succeeded", 1], "the retry synced the renamed file");
  eq(cli(dir, ["matching", "--search", "E2E_bad_renamed"]).items[0].status, "synced", "renamed file synced");
  eq(cli(dir, ["matching", "--search", "E2E_elsewhere"]).total, 0, "the other folder was not read again");
  await until(async () => (await page.getByTestId("problems-empty").count()) === 1, "the list is empty");
  eq((await syncDone("a full sync")).result.added, 1, "the full sync finds the other folder's file");
  await until(async () => (await page.getByTestId("status-light").getAttribute("data-status")) === "ok", "the light is back to 정상");
  eq(await page.getByTestId("nav-problems-count").count(), 0, "no count in the nav");
});

test("English switch and keyboard reach", async () => {
  await page.getByTestId("nav-dashboard").click();
  await page.getByTestId("lang-switch").click();
  await until(async () => (await page.locator("h1").innerText()).includes("NAS Sync Monitor"), "English header");
  assert((await page.getByTestId("action-sync").innerText()).includes("Run sync"), "English button");
  await page.getByTestId("lang-switch").click();
  await until(async () => (await page.locator("h1").innerText()).includes("NAS 동기화 모니터"), "Korean again");
  // Tab from the top reaches the navigation and the sync button.
  await page.locator("body").click({ position: { x: 5, y: 5 } });
  const seen = new Set();
  for (let i = 0; i < 25; i++) {
    await page.keyboard.press("Tab");
    const id = await page.evaluate(() => document.activeElement?.getAttribute("data-testid"));
    if (id) seen.add(id);
  }
  for (const id of ["nav-matching", "nav-logs", "status-light", "action-sync"]) assert(seen.has(id), `Tab reaches ${id} (${[...seen]})`);
  await page.keyboard.press("Enter");
  // Dark theme follows the OS.
  await page.emulateMedia({ colorScheme: "dark" });
  await page.getByTestId("nav-dashboard").click();
  await page.getByTestId("source-total").waitFor();
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert(bg !== "rgb(248, 250, 252)", `dark background (got ${bg})`);
  await shot(page, "dashboard-dark", false);
  await page.emulateMedia({ colorScheme: "light" });
});

test("live log latency: an engine line reaches the page's DOM (p95 over 200 lines, PRD 5.1)", async () => {
  await page.getByTestId("nav-logs").click();
  await page.getByRole("log").waitFor();
  // A full screen first (1,000 lines kept), as after a day's work: each new line then joins
  // a thousand others.
  while ((await page.getByTestId("log-line").count()) < 1000) {
    const reqs = [];
    for (let i = 0; i < 50; i++) reqs.push(api(srv.url, "POST", i % 2 ? "/api/schedule/resume" : "/api/schedule/pause"));
    await Promise.all(reqs);
  }
  // The time each new line appears in the DOM, against the time the engine stamped on it (one
  // machine, one clock).
  await page.evaluate(() => {
    window.__latency = [];
    // The same lines on a second socket of the page's own: engine → browser, without the render.
    window.__wire = [];
    const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws/logs");
    window.__wireOpen = new Promise((ok) => (ws.onopen = ok));
    const since = Date.now();
    ws.onmessage = (m) => {
      const now = Date.now();
      const at = Date.parse(JSON.parse(m.data).time);
      // The backlog a connection starts with is old news.
      if (at >= since) window.__wire.push(now - at);
    };
    new MutationObserver((records) => {
      const now = Date.now();
      for (const r of records)
        for (const n of r.addedNodes)
          if (n instanceof HTMLElement && n.dataset.testid === "log-line" && n.dataset.time)
            window.__latency.push(now - Date.parse(n.dataset.time));
    }).observe(document.querySelector('[role="log"]'), { childList: true, subtree: true });
  });
  await page.evaluate(() => window.__wireOpen);
  // And on a socket outside the browser (this test's own process): the server's part alone,
  // without the page's main thread.
  const outside = [];
  const node = new WebSocket(srv.url.replace(/^http/, "ws") + "/ws/logs", { headers: { Authorization: `Bearer ${TOKEN}` } });
  await new Promise((ok, fail) => {
    node.once("open", ok);
    node.once("error", fail);
  });
  const nodeSince = Date.now();
  node.on("message", (data) => {
    const now = Date.now();
    const at = Date.parse(JSON.parse(String(data)).time);
    if (at >= nodeSince) outside.push(now - at);
  });
  // 200 engine lines, one per request, spaced as a busy engine would log them.
  for (let i = 0; i < 100; i++) {
    await api(srv.url, "POST", "/api/schedule/pause");
    await api(srv.url, "POST", "/api/schedule/resume");
  }
  await until(async () => (await page.evaluate(() => window.__latency.length)) >= 200, "200 lines on the page");
  const ms = (await page.evaluate(() => window.__latency)).sort((a, b) => a - b);
  const pct = (p) => ms[Math.min(ms.length - 1, Math.floor((p / 100) * ms.length))];
  const wire = (await page.evaluate(() => window.__wire)).sort((a, b) => a - b);
  const wpct = (p) => wire[Math.min(wire.length - 1, Math.floor((p / 100) * wire.length))];
  await until(async () => outside.length >= 200, "200 lines on the outside socket");
  node.close();
  outside.sort((a, b) => a - b);
  const opct = (p) => outside[Math.min(outside.length - 1, Math.floor((p / 100) * outside.length))];
  metrics.liveLogLatencyMs = {
    lines: ms.length,
    p50: pct(50),
    p95: pct(95),
    max: ms[ms.length - 1],
    rows: await page.getByTestId("log-line").count(),
    wireP50: wpct(50),
    wireP95: wpct(95),
    outsideP50: opct(50),
    outsideP95: opct(95),
  };
  // A full log, followed to its end: the newest line is on screen, and so are the ones before
  // it (rows off screen are not laid out; the ones scrolled into view must be).
  const box = page.getByTestId("log-box");
  const shown = await box.evaluate((el) => {
    const r = el.getBoundingClientRect();
    const rows = [...el.querySelectorAll('[data-testid="log-line"]')];
    const visible = rows.filter((n) => {
      const b = n.getBoundingClientRect();
      return b.bottom > r.top && b.top < r.bottom && n.innerText.trim().length > 0 && b.height > 0;
    });
    return { visible: visible.length, lastVisible: visible.at(-1) === rows.at(-1) };
  });
  assert(shown.lastVisible && shown.visible >= 10, `the tail of a full log is drawn: ${JSON.stringify(shown)}`);
  await shot(page, "logs-full", false);
  // The PRD's target (< 100 ms) is reported in docs/benchmarks.md; this only catches a stream
  // that stopped being live (a shared CI machine must not fail on a slow moment).
  assert(pct(95) < 2000, `live log p95 ${pct(95)} ms`);
});

test("the page reconnects after the server restarts", async () => {
  await page.getByTestId("nav-dashboard").click();
  await page.getByTestId("source-total").waitFor();
  const bind = new URL(srv.url).host;
  await srv.stop();
  await page.getByTestId("offline-banner").waitFor();
  eq(await page.getByTestId("status-light").getAttribute("data-status"), "offline", "light shows 연결 끊김");
  srv = await serve(dir, bind);
  await until(async () => (await page.getByTestId("offline-banner").count()) === 0, "banner gone after the restart");
  await until(async () => (await page.getByTestId("status-light").getAttribute("data-status")) === "ok", "status back to 정상");
  // New log lines of the new server arrive on the re-opened stream.
  await api(srv.url, "POST", "/api/schedule/pause");
  await page.getByTestId("nav-logs").click();
  await until(async () => (await logTexts()).some((l) => l.includes("일시정지")), "a log line from the restarted server");
  await api(srv.url, "POST", "/api/schedule/resume");
});

// ---------------------------------------------------------------------------------------------

let passed = 0;
let failed = 0;
try {
  ctx = await browser();
  dir = makeDemo();
  srv = await serve(dir);
  page = ctx.pages()[0] ?? (await ctx.newPage());
  watchPage(page);
  // Signed in as the operator would be: the printed address (every server here shares TOKEN).
  await page.goto(srv.open);
  for (const t of tests) {
    if (ONLY && !ONLY.test(t.name)) continue;
    const start = Date.now();
    try {
      await t.fn();
      passed++;
      console.log(`ok   ${t.name} (${Date.now() - start} ms)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${t.name}\n     ${e instanceof Failure ? e.message : (e.stack ?? e)}`);
      await page.screenshot({ path: path.join(os.tmpdir(), `e2e-fail-${passed + failed}.png`) }).catch(() => {});
    }
  }
  const t = { name: "no external network requests and no page errors" };
  if (external.length === 0 && pageErrors.length === 0) {
    passed++;
    console.log(`ok   ${t.name}`);
  } else {
    failed++;
    console.log(`FAIL ${t.name}\n     external: ${external.join(", ")}\n     errors: ${pageErrors.join("\n")}`);
  }
  console.log(`metrics: ${JSON.stringify(metrics)}`);
} finally {
  await ctx?.close().catch(() => {});
  await Promise.all(
    [...servers].map((p) => (p.exitCode !== null ? null : new Promise((r) => (p.once("exit", r), p.kill("SIGTERM"))))),
  );
  for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
