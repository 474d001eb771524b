// Jobs as the dashboard follows them: the latest one (whoever started it: a click, the schedule
// or the watcher), polled while it runs.
import { useApp } from "../state/app";
import { useJobs } from "../state/queries";
import type { JobInfo, JobKind } from "../api";

export function useLatestJobs() {
  const { status } = useApp();
  const running = status?.job?.id ?? null;
  const list = useJobs(running);
  const jobs = list.data ?? [];
  const latest = (kind?: JobKind): JobInfo | null =>
    jobs
      .filter((j) => !kind || j.kind === kind)
      .reduce<JobInfo | null>((a, j) => (a && a.id > j.id ? a : j), null);
  return { jobs, latest, running, refetch: list.refetch };
}
