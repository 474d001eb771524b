import type {
  ContainingFolder,
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

/** Whether a stream is connected; the UI shows a banner while it is not. */
export type StreamState = "connecting" | "open" | "closed";

export type Unsubscribe = () => void;

/**
 * Everything the UI asks of the engine. Two implementations: HTTP + WebSocket against
 * `nas-sync serve` ([`HttpTransport`]) and Tauri `invoke` + `Channel` in the desktop window
 * ([`TauriTransport`]). Streams deliver the current state's replay first (logs: the buffer), and
 * reconnect by themselves; `onState` tells when they are up.
 */
export interface Transport {
  readonly kind: "http" | "tauri";
  dashboard(): Promise<Dashboard>;
  matching(p: MatchingParams): Promise<MatchingPage>;
  /** The values the matching table's filters can take, with their counts (whole table). */
  matchingFacets(): Promise<MatchingFacets>;
  tree(): Promise<Tree>;
  treeNode(p: TreeParams): Promise<TreeNode>;
  history(p: HistoryParams): Promise<HistoryPage>;
  /**
   * A CSV of every row the request's filters match (UTF-8 with BOM for Excel). The browser
   * downloads it from the server's streaming endpoint; the desktop app saves it in the
   * Downloads folder and says where (`saved`).
   */
  exportCsv(e: ExportRequest): Promise<ExportResult>;
  /** What a scan could not read and what the Target refused, while it lasts. */
  problems(): Promise<ProblemList>;
  status(): Promise<Status>;
  /** Also makes the engine look at the root now (an unreachable share turns the status to error). */
  health(): Promise<Health>;
  jobs(): Promise<JobInfo[]>;
  job(id: number): Promise<JobInfo>;
  cancelJob(id: number): Promise<void>;
  /** `force`: apply past the guard that refused the reviewed job (admin; see [`ForceApproval`]). */
  startSync(force: ForceApproval | null): Promise<StartResponse>;
  startScan(): Promise<StartResponse>;
  /** 문제 목록's 다시 시도 on one row: a sync that rereads only that problem's folder. */
  retryProblem(id: number): Promise<StartResponse>;
  reconcile(): Promise<ReconcileResponse>;
  pause(): Promise<Status>;
  resume(): Promise<Status>;
  settings(): Promise<SettingsResponse>;
  saveSettings(patch: Partial<Config>): Promise<SettingsSaved>;
  testRoot(root: string): Promise<RootTest>;
  /** Is this the admin PIN (admin mode for 스캔 실행)? Wrong guesses are throttled. */
  verifyPin(pin: string): Promise<PinCheck>;
  createDemo(): Promise<DemoCreated>;
  /** Desktop only: open the live log's folder in the file manager (`null` from the web server). */
  openLogFolder(): Promise<{ path: string; opened: boolean } | null>;
  /**
   * Desktop only: open the folder of `path` (relative to the root, as the tables show it) in the
   * file manager, the file selected (`null` from the web server, which has no desktop to open).
   */
  openContainingFolder(path: string): Promise<ContainingFolder | null>;
  subscribeLogs(onLine: (l: LogLine) => void, onState: (s: StreamState) => void): Unsubscribe;
  subscribeStatus(onStatus: (s: Status) => void, onState: (s: StreamState) => void): Unsubscribe;
}
