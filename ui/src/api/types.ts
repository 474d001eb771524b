// Shapes the engine defines are generated from the Rust structs (./generated, ts-rs); the few
// built ad hoc in the server (src-tauri/cli/src/serve.rs) are typed here by hand.
export type { ForceApproval } from "./generated/ForceApproval";
export type { Dashboard } from "./generated/Dashboard";
export type { MatchingPage } from "./generated/MatchingPage";
export type { MatchItem } from "./generated/MatchItem";
export type { MatchStatus } from "./generated/MatchStatus";
export type { MatchingSummary } from "./generated/MatchingSummary";
export type { Tree } from "./generated/Tree";
export type { TreeNode } from "./generated/TreeNode";
export type { TreeNodeDir } from "./generated/TreeNodeDir";
export type { TreeFile } from "./generated/TreeFile";
export type { HistoryPage } from "./generated/HistoryPage";
export type { HistoryItem } from "./generated/HistoryItem";
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

import type { Config } from "./generated/Config";
import type { JobKind } from "./generated/JobKind";
import type { ReconcileReport } from "./generated/ReconcileReport";
import type { StatusKind } from "./generated/StatusKind";
import type { LastError } from "./generated/LastError";

/** `POST /api/sync` · `/api/scan` (202). */
export type StartResponse = { message: string; job_id: number; started: boolean; kind: JobKind };

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

/** `GET /health`. */
export type Health = {
  status: StatusKind;
  label: string;
  last_sync: string | null;
  last_error: LastError | null;
};

export type MatchingParams = {
  status?: string;
  catalog?: string;
  search?: string;
  sort?: string;
  desc?: boolean;
  page?: number;
  per_page?: number;
};

export type HistoryParams = { event?: string; catalog?: string; since?: string; limit?: number; offset?: number };

export type TreeParams = { path: string; offset?: number; limit?: number };
