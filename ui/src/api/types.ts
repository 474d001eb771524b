// Shapes the engine defines are generated from the Rust structs (./generated, ts-rs); the few
// built ad hoc in the server (src-tauri/cli/src/serve.rs) are typed here by hand.
export type { ForceApproval } from "./generated/ForceApproval";
export type { Dashboard } from "./generated/Dashboard";
export type { MatchingPage } from "./generated/MatchingPage";
export type { MatchItem } from "./generated/MatchItem";
export type { MatchStatus } from "./generated/MatchStatus";
export type { MatchingSummary } from "./generated/MatchingSummary";
export type { MatchingFacets } from "./generated/MatchingFacets";
export type { FacetCount } from "./generated/FacetCount";
export type { Tree } from "./generated/Tree";
export type { TreeNode } from "./generated/TreeNode";
export type { TreeNodeDir } from "./generated/TreeNodeDir";
export type { TreeFile } from "./generated/TreeFile";
export type { HistoryPage } from "./generated/HistoryPage";
export type { HistoryItem } from "./generated/HistoryItem";
export type { Problem } from "./generated/Problem";
export type { ProblemKind } from "./generated/ProblemKind";
export type { ProblemList } from "./generated/ProblemList";
export type { ProblemOrigin } from "./generated/ProblemOrigin";
export type { Status } from "./generated/Status";
export type { StatusKind } from "./generated/StatusKind";
export type { JobInfo } from "./generated/JobInfo";
export type { JobKind } from "./generated/JobKind";
export type { JobState } from "./generated/JobState";
export type { JobResult } from "./generated/JobResult";
export type { LogLine } from "./generated/LogLine";
export type { Level } from "./generated/Level";
export type { FieldError } from "./generated/FieldError";
export type { Config } from "./generated/Config";
export type { ReconcileReport } from "./generated/ReconcileReport";
export type { SyncReport } from "./generated/SyncReport";
export type { ErrorCode } from "./generated/ErrorCode";
export type { ErrorBody } from "./generated/ErrorBody";
export type { Health } from "./generated/Health";
export type { StartResponse } from "./generated/StartResponse";
export type { CancelRequested } from "./generated/CancelRequested";

import type { Config } from "./generated/Config";
import type { HistoryFilter } from "./generated/HistoryFilter";
import type { MatchingQuery } from "./generated/MatchingQuery";
import type { ReconcileReport } from "./generated/ReconcileReport";
import type { TreeQuery } from "./generated/TreeQuery";

/** `POST /api/reconcile`: the report when it finished within a minute, else the job to poll. */
export type ReconcileResponse = {
  result?: ReconcileReport | null;
  job_id: number;
  message?: string;
  state?: string;
};

/** `GET /api/settings` (the config without the PIN hash, whether a PIN is set). */
export type { SettingsView as SettingsResponse } from "./generated/SettingsView";

/** `PUT /api/settings` (200). */
export type { SettingsSaved } from "./generated/SettingsSaved";

/** `POST /api/admin/verify-pin`: unlocks admin mode (스캔 실행) in the UI. */
export type { PinCheck } from "./generated/PinCheck";

/** `POST /api/settings/test-root`. */
export type RootTest = {
  ok: boolean;
  code: string;
  message: string;
  entries: number | null;
};

/** `POST /api/demo`: a demo archive was written (or found) and the settings now point at it. */
export type DemoCreated = { config: Config; dir: string; files: number; created: boolean };

/** The engine's query types (`desc`, `collision` and `offset` default on the server). */
export type MatchingParams = Omit<MatchingQuery, "desc" | "collision"> & { desc?: boolean; collision?: boolean };
/** The values of the matching table's `reason` filter (제외 사유). */
export type ExclusionReason = NonNullable<MatchingQuery["reason"]>;
export type HistoryParams = HistoryFilter;
export type TreeParams = Omit<TreeQuery, "offset"> & { offset?: number };

/** Desktop only: what 폴더 열기 opened (`open_containing_folder`). */
export type ContainingFolder = {
  /** The folder opened: the file's own, or the nearest one still there when the file is gone. */
  folder: string;
  exists: boolean;
  /** False when no file manager could be started. */
  opened: boolean;
};

/** The header language of a CSV export (the UI's language by default). */
export type CsvLang = "ko" | "en";

/** What to export: the matching table or the history with a screen's filters (every row, not
 * one page), or a reconcile job's report (`null`: the latest). */
export type ExportRequest =
  | { kind: "matching"; query: MatchingParams; lang: CsvLang }
  | { kind: "history"; query: HistoryParams; lang: CsvLang }
  | { kind: "reconcile"; jobId: number | null; lang: CsvLang };

/** Where the desktop app saved an export (`export_*_csv`). */
export type ExportSaved = { path: string; rows: number; bytes: number };

/** `saved`: the desktop app's file; `null`: the browser took it as a download. */
export type ExportResult = { saved: ExportSaved | null };
