// The job the dashboard follows: running (progress, cancel) or finished (its counts or error).
import { useMutation } from "@tanstack/react-query";
import type { JobInfo, SyncReport } from "../../api";
import { formatDateTime, formatDuration, formatNumber } from "../../format";
import { errorAdvice, jobLabel, phaseLabel, useLang } from "../../i18n";
import { useApi } from "../../state/app";
import { Badge, Button, Spinner } from "../ui";
import { Glyph } from "../Glyph";

export function RunningJob({ job }: { job: JobInfo }) {
  const api = useApi();
  const { t, lang } = useLang();
  const p = job.progress;
  const cancel = useMutation({ mutationFn: () => api.cancelJob(job.id) });
  return (
    <div
      data-testid="job-progress"
      data-job-id={job.id}
      className="mt-4 rounded-lg border border-blue-200 bg-blue-50 p-3 dark:border-blue-900 dark:bg-blue-950"
    >
      <div className="flex flex-wrap items-center gap-3">
        <Spinner />
        <span className="font-semibold">
          {jobLabel(job.kind, t)} · {phaseLabel(p.phase, t)}
        </span>
        <span className="tabular text-sm text-slate-600 dark:text-slate-300" data-testid="job-count">
          {formatNumber(p.files_seen, lang)} {t("개 파일 확인", "files seen")}
          {p.files_per_sec > 0 && ` · ${formatNumber(Math.round(p.files_per_sec), lang)}/s`}
        </span>
        <span className="tabular text-sm text-slate-600 dark:text-slate-300">
          {p.eta_sec !== null
            ? `${t("남은 시간", "ETA")} ${formatDuration(p.eta_sec, lang)}`
            : `${t("경과", "elapsed")} ${formatDuration(p.elapsed_ms / 1000, lang)}`}
        </span>
        <Button
          size="sm"
          variant="ghost"
          className="ml-auto"
          data-testid="job-cancel"
          disabled={cancel.isPending}
          onClick={() => cancel.mutate()}
        >
          ✕ {t("취소", "Cancel")}
        </Button>
      </div>
    </div>
  );
}

export function syncReportOf(job: JobInfo): SyncReport | null {
  return job.result?.kind === "sync" ? (job.result as SyncReport) : null;
}

export function FinishedJob({ job }: { job: JobInfo }) {
  const { t, lang } = useLang();
  const r = syncReportOf(job);
  if (job.state === "refused") return null;
  const tone =
    job.state === "succeeded" ? "green" : job.state === "cancelled" ? "slate" : "red";
  const stateLabel = {
    succeeded: t("완료", "done"),
    cancelled: t("취소됨", "cancelled"),
    failed: t("실패", "failed"),
    running: t("진행 중", "running"),
    refused: t("거부됨", "refused"),
  }[job.state];
  return (
    <div data-testid="job-result" data-state={job.state} className="mt-4 flex flex-wrap items-center gap-2 text-sm">
      <Badge tone={tone}>
        {jobLabel(job.kind, t)} {stateLabel}
      </Badge>
      {r && (
        <span className="tabular text-slate-600 dark:text-slate-300" data-testid="job-result-counts">
          {t("추가", "added")} {formatNumber(r.added, lang)} · {t("변경", "updated")} {r.updated} ·{" "}
          {t("이동", "moved")} {r.moved} · {t("복원", "restored")} {r.restored} · {t("삭제", "deleted")}{" "}
          {r.deleted}
          {r.held > 0 && (
            <span data-testid="job-result-held"> · {t("복사 중 보류", "held (copying)")} {formatNumber(r.held, lang)}</span>
          )}
          {r.errors.length > 0 && ` · ${t("에러", "errors")} ${r.errors.length}`}
        </span>
      )}
      {job.error && job.error.code !== "target_busy" && (
        <span className="text-red-600" data-testid="job-error">
          {errorAdvice(job.error.code, t)}
        </span>
      )}
      <span className="text-slate-400">
        {formatDateTime(job.finished_at)} · {t(triggerKo(job.trigger), job.trigger)}
      </span>
      {job.error?.code === "target_busy" && (
        <div
          role="alert"
          data-testid="target-locked"
          className="mt-2 w-full rounded-lg border border-amber-300 bg-amber-50 p-3 text-amber-900 dark:border-amber-900 dark:bg-amber-950 dark:text-amber-100"
        >
          <p className="font-semibold"><Glyph of="🔒" /> {t("OTT 플랫폼 카탈로그가 잠겨 있습니다", "The OTT platform's catalog is locked")}</p>
          <p className="mt-1">
            {t(
              "다른 프로그램(OTT 서버, DB 도구)이 카탈로그에 쓰는 중이라 기다리다 멈췄습니다. 아무것도 적용하지 않았습니다. 잠시 후 다시 실행하세요.",
              "Another program (the OTT server, a DB tool) is writing to the catalog; the sync gave up waiting and applied nothing. Run it again shortly.",
            )}
          </p>
        </div>
      )}
    </div>
  );
}

function triggerKo(trigger: string): string {
  return trigger === "manual" ? "직접 실행" : trigger === "schedule" ? "자동 (예약)" : trigger === "watch" ? "자동 (변경 감지)" : trigger === "settle" ? "자동 (복사 완료 확인)" : trigger;
}
