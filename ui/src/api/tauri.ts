import { Channel, invoke } from "@tauri-apps/api/core";
import { ApiError } from "./errors";
import type { StreamState, Transport, Unsubscribe } from "./transport";
import type {
  ContainingFolder,
  Config,
  DemoCreated,
  ExportRequest,
  ExportResult,
  ExportSaved,
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

/**
 * Tauri `invoke` + `Channel` in the desktop window. Command names are `verb_noun` (STYLE.md);
 * their arguments and answers are the same shapes as the HTTP API. The desktop shell must
 * register these commands: get_dashboard, get_matching, get_matching_facets, get_tree, get_tree_node, get_history, get_problems,
 * retry_problem, export_matching_csv, export_history_csv, export_reconcile_csv, get_status, get_health,
 * list_jobs, get_job, cancel_job, start_sync, start_scan, start_reconcile, pause_schedule, resume_schedule,
 * get_settings, save_settings, test_root, verify_admin_pin, create_demo, open_log_folder,
 * open_containing_folder, subscribe_logs, subscribe_status, unsubscribe. Errors arrive as `{code, message, field?, errors?}`.
 */
export class TauriTransport implements Transport {
  readonly kind = "tauri" as const;

  private async call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
    try {
      return await invoke<T>(cmd, args);
    } catch (e) {
      if (typeof e === "string") throw new ApiError(500, "internal", e);
      throw ApiError.fromBody(400, e);
    }
  }

  dashboard() {
    return this.call<Dashboard>("get_dashboard");
  }
  matching(p: MatchingParams) {
    return this.call<MatchingPage>("get_matching", { query: p });
  }
  matchingFacets() {
    return this.call<MatchingFacets>("get_matching_facets");
  }
  tree() {
    return this.call<Tree>("get_tree");
  }
  treeNode(p: TreeParams) {
    return this.call<TreeNode>("get_tree_node", { query: p });
  }
  history(p: HistoryParams) {
    return this.call<HistoryPage>("get_history", { query: p });
  }

  /** Saved in the Downloads folder by the app (the window takes no downloads). */
  async exportCsv(e: ExportRequest): Promise<ExportResult> {
    const saved =
      e.kind === "matching"
        ? await this.call<ExportSaved>("export_matching_csv", { query: e.query, lang: e.lang })
        : e.kind === "history"
          ? await this.call<ExportSaved>("export_history_csv", { query: e.query, lang: e.lang })
          : await this.call<ExportSaved>("export_reconcile_csv", { jobId: e.jobId, lang: e.lang });
    return { saved };
  }

  openLogFolder() {
    return this.call<{ path: string; opened: boolean }>("open_log_folder");
  }
  openContainingFolder(path: string) {
    return this.call<ContainingFolder>("open_containing_folder", { path });
  }
  retryProblem(id: number) {
    return this.call<StartResponse>("retry_problem", { id });
  }

  problems() {
    return this.call<ProblemList>("get_problems");
  }
  status() {
    return this.call<Status>("get_status");
  }
  health() {
    return this.call<Health>("get_health");
  }
  jobs() {
    return this.call<JobInfo[]>("list_jobs");
  }
  job(id: number) {
    return this.call<JobInfo>("get_job", { id });
  }
  async cancelJob(id: number) {
    await this.call<unknown>("cancel_job", { id });
  }
  startSync(force: ForceApproval | null) {
    return this.call<StartResponse>("start_sync", { force });
  }
  startScan() {
    return this.call<StartResponse>("start_scan");
  }
  reconcile() {
    return this.call<ReconcileResponse>("start_reconcile");
  }
  pause() {
    return this.call<Status>("pause_schedule");
  }
  resume() {
    return this.call<Status>("resume_schedule");
  }
  settings() {
    return this.call<SettingsResponse>("get_settings");
  }
  saveSettings(patch: Partial<Config>) {
    return this.call<SettingsSaved>("save_settings", { patch });
  }
  testRoot(root: string) {
    return this.call<RootTest>("test_root", { root });
  }
  verifyPin(pin: string) {
    return this.call<PinCheck>("verify_admin_pin", { pin });
  }
  createDemo() {
    return this.call<DemoCreated>("create_demo");
  }

  /** The in-process engine never restarts under the window, so a channel needs no reconnect. */
  private stream<T>(
    cmd: string,
    onMessage: (v: T) => void,
    onState: (s: StreamState) => void,
  ): Unsubscribe {
    const channel = new Channel<T>();
    channel.onmessage = onMessage;
    let id: number | null = null;
    let stopped = false;
    onState("connecting");
    this.call<number>(cmd, { channel })
      .then((sid) => {
        id = sid;
        if (stopped) void this.call("unsubscribe", { id: sid });
        else onState("open");
      })
      .catch(() => onState("closed"));
    return () => {
      stopped = true;
      if (id !== null) void this.call("unsubscribe", { id });
    };
  }

  subscribeLogs(onLine: (l: LogLine) => void, onState: (s: StreamState) => void) {
    return this.stream<LogLine>("subscribe_logs", onLine, onState);
  }
  subscribeStatus(onStatus: (s: Status) => void, onState: (s: StreamState) => void) {
    return this.stream<Status>("subscribe_status", onStatus, onState);
  }
}
