// The engine's answers as the screens read them: every React Query key and the hooks built on
// them, in one place (a key spelled differently in two components would split the cache, and an
// invalidation would miss one of them). A key holds exactly the request it caches, so a parameter
// cannot be left out of it. Changes that touch everything (saved settings, a finished job, a
// reconnect) invalidate all queries and need no key.
import { keepPreviousData, useMutation, useQueries, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ForceApproval, HistoryParams, MatchingParams, ReconcileReport, TreeParams } from "../api";
import { useApi } from "./app";

export const keys = {
  dashboard: () => ["dashboard"] as const,
  settings: () => ["settings"] as const,
  jobs: () => ["jobs"] as const,
  matching: (p: MatchingParams) => ["matching", p] as const,
  matchingFacets: () => ["matching-facets"] as const,
  history: (p: HistoryParams) => ["history", p] as const,
  problems: () => ["problems"] as const,
  treeNode: (p: TreeParams) => ["tree", p] as const,
};

// ---------------------------------------------------------------------------------------------
// Queries.

export function useDashboard() {
  const api = useApi();
  return useQuery({ queryKey: keys.dashboard(), queryFn: () => api.dashboard() });
}

/** `retry: false` where a refusal is the answer (the dashboard only reads whether a PIN is set). */
export function useSettings(options: { retry?: false } = {}) {
  const api = useApi();
  return useQuery({ queryKey: keys.settings(), queryFn: () => api.settings(), ...options });
}

/**
 * The job list. Polled while the status says a job runs (`running`), and also while the last
 * answer still shows one running: a job that ends between that answer and the next status
 * change (a 0.1 s sync whose start the status stream never showed) would otherwise stay
 * "running" on screen.
 */
export function useJobs(running: number | null) {
  const api = useApi();
  return useQuery({
    queryKey: keys.jobs(),
    queryFn: () => api.jobs(),
    refetchInterval: (q) =>
      running !== null || (q.state.data ?? []).some((j) => j.state === "running") ? 600 : false,
  });
}

/** One page of the 1:1 matching table; the previous page stays shown while the next loads. */
export function useMatching(p: MatchingParams) {
  const api = useApi();
  return useQuery({ queryKey: keys.matching(p), queryFn: () => api.matching(p), placeholderData: keepPreviousData });
}

/** The values the matching table's filters offer (extensions, codecs, reasons) and the number
 * of name collisions (같은 이름, 다른 크기), for the filter lists and the dashboard. */
export function useMatchingFacets() {
  const api = useApi();
  return useQuery({ queryKey: keys.matchingFacets(), queryFn: () => api.matchingFacets() });
}

/** One page of the change history (paged on the server, newest first). */
export function useHistory(p: HistoryParams) {
  const api = useApi();
  return useQuery({ queryKey: keys.history(p), queryFn: () => api.history(p), placeholderData: keepPreviousData });
}

/** The problems that last (refreshed with every finished job, like every query). */
export function useProblems() {
  const api = useApi();
  return useQuery({ queryKey: keys.problems(), queryFn: () => api.problems() });
}

/** One folder of the catalog tree. */
export function useTreeNode(p: TreeParams) {
  const api = useApi();
  return useQuery({ queryKey: keys.treeNode(p), queryFn: () => api.treeNode(p) });
}

/** Several folders of the catalog tree, one answer per request, in order. */
export function useTreeNodes(ps: TreeParams[]) {
  const api = useApi();
  return useQueries({
    queries: ps.map((p) => ({ queryKey: keys.treeNode(p), queryFn: () => api.treeNode(p) })),
  });
}

// ---------------------------------------------------------------------------------------------
// Jobs started from the screens: each one refreshes the job list, which the dashboard follows.

/** Start a sync; `force` applies past the guard that refused the reviewed job (admin). */
export function useStartSync() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (force: ForceApproval | null) => api.startSync(force),
    onSuccess: () => void qc.invalidateQueries({ queryKey: keys.jobs() }),
  });
}

export type SyncMutation = ReturnType<typeof useStartSync>;

/** 문제 목록's 다시 시도 on one row (a sync that rereads only that problem's folder). */
export function useRetryProblem() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: number) => api.retryProblem(id),
    onSuccess: () => void qc.invalidateQueries({ queryKey: keys.jobs() }),
  });
}

export function useStartScan() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () => api.startScan(),
    onSuccess: () => void qc.invalidateQueries({ queryKey: keys.jobs() }),
  });
}

/** Reconcile; `onReport` gets the report when it finished within the request (200, not 202). */
export function useReconcile(onReport: (r: ReconcileReport) => void) {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () => api.reconcile(),
    onSuccess: (r) => {
      if (r.result) onReport(r.result);
      void qc.invalidateQueries({ queryKey: keys.jobs() });
    },
  });
}
