// Jobs as the dashboard follows them: the latest one (whoever started it: a click, the schedule
// or the watcher), polled while it runs.
import { useQuery } from "@tanstack/react-query";
import { useApp } from "../state/app";
import type { JobInfo, JobKind } from "../api";

export function useLatestJobs() {
  const { api, status } = useApp();
  const running = status?.job?.id ?? null;
  const list = useQuery({
    queryKey: ["jobs"],
    queryFn: () => api.jobs(),
    // Polled while the status says a job runs, and also while the last answer still shows one
    // running: a job that ends between that answer and the next status change (a 0.1 s sync
    // whose start the status stream never showed) would otherwise stay "running" on screen.
    refetchInterval: (q) =>
      running !== null || (q.state.data ?? []).some((j) => j.state === "running") ? 600 : false,
  });
  const jobs = list.data ?? [];
  const latest = (kind?: JobKind): JobInfo | null =>
    jobs
      .filter((j) => !kind || j.kind === kind)
      .reduce<JobInfo | null>((a, j) => (a && a.id > j.id ? a : j), null);
  return { jobs, latest, running, refetch: list.refetch };
}
