import { ApiError } from "./errors";
import type { StreamState, Transport, Unsubscribe } from "./transport";
import type {
  Config,
  DemoCreated,
  ExportRequest,
  ExportResult,
  ForceApproval,
  Health,
  Dashboard,
  HistoryPage,
  HistoryParams,
  JobInfo,
  LogLine,
  MatchingFacets,
  MatchingPage,
  MatchingParams,
  ProblemList,
  ReconcileResponse,
  PinCheck,
  RootTest,
  SettingsResponse,
  SettingsSaved,
  StartResponse,
  Status,
  Tree,
  TreeNode,
  TreeParams,
} from "./types";

type Query = Record<string, string | number | boolean | undefined | null>;

export function queryString(q: Query | undefined): string {
  if (!q) return "";
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    // An empty `path` is the tree's root; other empty values are "no filter".
    if (v === undefined || v === null || v === false || (v === "" && k !== "path")) continue;
    p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : "";
}

/** Delay before the n-th reconnect attempt: 0.5 s, 1 s, 2 s, then every 3 s. */
export function backoffMs(attempt: number): number {
  return Math.min(3000, 500 * 2 ** Math.max(0, attempt));
}

/**
 * HTTP + WebSocket against `nas-sync serve` (same origin by default). A page carries the
 * server's HttpOnly session cookie (the first load of the printed `/?token=…` address set it);
 * a token given here (scripts, tests) is sent as `Authorization: Bearer` and as `?token=` on
 * WebSockets. Every state change sends a JSON body (`{}` at least): the server refuses others.
 */
export class HttpTransport implements Transport {
  readonly kind = "http" as const;
  private readonly base: string;
  private readonly token: string | null;

  constructor(base = "", token: string | null = null) {
    this.base = base.replace(/\/$/, "");
    this.token = token;
  }

  private async call<T>(method: string, path: string, q?: Query, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (method !== "GET" && body === undefined) body = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await fetch(this.base + path + queryString(q), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, "unreachable", e instanceof Error ? e.message : String(e));
    }
    const text = await res.text();
    let json: unknown = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = { message: text };
      }
    }
    if (!res.ok) {
      // A proxy answering for a stopped server (vite dev) counts as unreachable.
      if (res.status === 502 || res.status === 504) {
        throw new ApiError(0, "unreachable", `HTTP ${res.status}`);
      }
      throw ApiError.fromBody(res.status, json);
    }
    return json as T;
  }

  dashboard() {
    return this.call<Dashboard>("GET", "/api/dashboard");
  }
  matching(p: MatchingParams) {
    return this.call<MatchingPage>("GET", "/api/matching", p);
  }
  matchingFacets() {
    return this.call<MatchingFacets>("GET", "/api/matching/facets");
  }
  tree() {
    return this.call<Tree>("GET", "/api/matching/tree");
  }
  treeNode(p: TreeParams) {
    return this.call<TreeNode>("GET", "/api/matching/tree", p);
  }
  history(p: HistoryParams) {
    return this.call<HistoryPage>("GET", "/api/history", p);
  }

  /**
   * The export's address: the screen's filters, the header language and this browser's time
   * zone (minutes east of UTC) for the times.
   */
  exportUrl(e: ExportRequest): string {
    const common = { lang: e.lang, utc_offset: -new Date().getTimezoneOffset() };
    switch (e.kind) {
      case "matching":
        return `${this.base}/api/matching/export.csv${queryString({ ...e.query, page: undefined, per_page: undefined, ...common })}`;
      case "history":
        return `${this.base}/api/history/export.csv${queryString({ ...e.query, limit: undefined, offset: undefined, ...common })}`;
      case "reconcile":
        return `${this.base}/api/reconcile/export.csv${queryString({ job_id: e.jobId, ...common })}`;
    }
  }

  /**
   * A link to the streaming endpoint, followed as a download: the browser writes the file as
   * it arrives (nothing is held in the page) and carries the session cookie. The filters were
   * checked by the screen's own query, so an error answer is unlikely; the browser shows it as a
   * failed download.
   */
  exportCsv(e: ExportRequest): Promise<ExportResult> {
    const a = document.createElement("a");
    a.href = this.exportUrl(e);
    a.download = "";
    a.rel = "noopener";
    a.style.display = "none";
    document.body.appendChild(a);
    a.click();
    a.remove();
    return Promise.resolve({ saved: null });
  }

  /** The browser cannot open a folder on the server's machine. */
  openLogFolder() {
    return Promise.resolve(null);
  }
  openContainingFolder() {
    return Promise.resolve(null);
  }

  problems() {
    return this.call<ProblemList>("GET", "/api/problems");
  }
  status() {
    return this.call<Status>("GET", "/api/status");
  }
  async health() {
    // 503 while in error is an answer, not a failure.
    try {
      return await this.call<Health>("GET", "/health");
    } catch (e) {
      if (e instanceof ApiError && e.status === 503 && e.body) return e.body as Health;
      throw e;
    }
  }
  jobs() {
    return this.call<JobInfo[]>("GET", "/api/jobs");
  }
  job(id: number) {
    return this.call<JobInfo>("GET", `/api/jobs/${id}`);
  }
  async cancelJob(id: number) {
    await this.call<unknown>("POST", `/api/jobs/${id}/cancel`);
  }
  startSync(force: ForceApproval | null) {
    return this.call<StartResponse>("POST", "/api/sync", undefined, force ? { force: true, ...force } : {});
  }
  startScan() {
    return this.call<StartResponse>("POST", "/api/scan", undefined, {});
  }
  retryProblem(id: number) {
    return this.call<StartResponse>("POST", `/api/problems/${id}/retry`, undefined, {});
  }
  reconcile() {
    return this.call<ReconcileResponse>("POST", "/api/reconcile", undefined, {});
  }
  pause() {
    return this.call<Status>("POST", "/api/schedule/pause");
  }
  resume() {
    return this.call<Status>("POST", "/api/schedule/resume");
  }
  settings() {
    return this.call<SettingsResponse>("GET", "/api/settings");
  }
  saveSettings(patch: Partial<Config>) {
    return this.call<SettingsSaved>("PUT", "/api/settings", undefined, patch);
  }
  testRoot(root: string) {
    return this.call<RootTest>("POST", "/api/settings/test-root", undefined, { root });
  }
  verifyPin(pin: string) {
    return this.call<PinCheck>("POST", "/api/admin/verify-pin", undefined, { pin });
  }
  createDemo() {
    return this.call<DemoCreated>("POST", "/api/demo", undefined, {});
  }

  private wsUrl(path: string): string {
    const origin = this.base || window.location.origin;
    const url = new URL(path, origin.endsWith("/") ? origin : `${origin}/`);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (this.token) url.searchParams.set("token", this.token);
    return url.toString();
  }

  /** A WebSocket that reconnects (with backoff) until unsubscribed. */
  private stream<T>(
    path: string,
    onMessage: (v: T) => void,
    onState: (s: StreamState) => void,
  ): Unsubscribe {
    let ws: WebSocket | null = null;
    let stopped = false;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const connect = () => {
      if (stopped) return;
      onState("connecting");
      ws = new WebSocket(this.wsUrl(path));
      ws.onopen = () => {
        attempt = 0;
        onState("open");
      };
      ws.onmessage = (ev) => {
        try {
          onMessage(JSON.parse(String(ev.data)) as T);
        } catch {
          // A malformed frame is ignored; the next one is independent.
        }
      };
      ws.onclose = () => {
        ws = null;
        if (stopped) return;
        onState("closed");
        timer = setTimeout(connect, backoffMs(attempt++));
      };
    };
    connect();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      ws?.close();
    };
  }

  subscribeLogs(onLine: (l: LogLine) => void, onState: (s: StreamState) => void) {
    return this.stream<LogLine>("/ws/logs", onLine, onState);
  }
  subscribeStatus(onStatus: (s: Status) => void, onState: (s: StreamState) => void) {
    return this.stream<Status>("/ws/status", onStatus, onState);
  }
}
