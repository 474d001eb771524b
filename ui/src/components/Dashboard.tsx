import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError, adminNeed, isUnreachable, needsSetup, type Dashboard as DashboardData } from "../api";
import type { ForceApproval, JobInfo, ReconcileReport, SyncReport } from "../api";
import {
  fieldMessage,
  formatBytes,
  formatDateTime,
  formatDuration,
  formatNumber,
  formatPercent,
  relativeTime,
  topCatalogs,
} from "../format";
import { jobLabel, phaseLabel, useLang, type T } from "../i18n";
import { useApp } from "../state/app";
import { useDashboard, useReconcile, useSettings, useStartScan, useStartSync, type SyncMutation } from "../state/queries";
import { navigate } from "../state/router";
import { AdminNeeded } from "./admin";
import { ErrorPanel } from "./ErrorPanel";
import { Onboarding } from "./Onboarding";
import { Badge, Button, Card, Loading, Spinner, cx } from "./ui";
import { useLatestJobs } from "./jobs";

export function Dashboard() {
  const q = useDashboard();
  // One sync mutation for the card's [실행] and the actions' 동기화 실행 (one error display).
  const sync = useStartSync();
  if (q.error && needsSetup(q.error)) return <Onboarding />;
  if (q.error && !q.data) return <ErrorPanel error={q.error} retry={() => void q.refetch()} />;
  if (!q.data) return <Loading />;
  const d = q.data;
  return (
    <div className="flex flex-col gap-4" data-testid="dashboard">
      <SummaryCards d={d} sync={sync} />
      <Actions sync={sync} />
      <div className="grid gap-4 lg:grid-cols-2">
        <CatalogStats d={d} />
        <FormatStats d={d} />
      </div>
    </div>
  );
}

function Stat({ value, label, testId }: { value: number; label: string; testId: string }) {
  const { lang } = useLang();
  return (
    <div>
      <div className="tabular text-3xl font-bold" data-testid={testId} data-value={value}>
        {formatNumber(value, lang)}
      </div>
      <div className="text-sm text-slate-500 dark:text-slate-400">{label}</div>
    </div>
  );
}

function SummaryCards({ d, sync }: { d: DashboardData; sync: SyncMutation }) {
  const { t, lang } = useLang();
  const { status } = useApp();
  const last = d.sync_status.last_result;
  const running = d.sync_status.is_running || status?.job != null;
  return (
    <div className="grid items-stretch gap-4 md:grid-cols-[1fr_auto_1fr_1fr_1fr]">
      <Card icon="📂" title={t("Source · NAS 아카이브", "Source · NAS archive")}>
        <Stat value={d.source.total_files} label={t("전체 파일", "files")} testId="source-total" />
        <p className="mt-2 truncate text-xs text-slate-500" title={d.source.db_path}>
          archive.db · {formatBytes(d.source.total_size_bytes)}
        </p>
      </Card>
      <div aria-hidden className="hidden items-center text-2xl text-slate-400 md:flex">
        →
      </div>
      <Card icon="📺" title={t("Target · OTT 플랫폼", "Target · OTT platform")}>
        <Stat value={d.target.total_files} label={t("HLS 등록", "HLS registered")} testId="target-total" />
        <p className="mt-2 truncate text-xs text-slate-500" title={d.target.db_path}>
          pokervod.db · {t("Source 대비", "of Source")} {formatPercent(d.target.hls_ratio)}
        </p>
        {d.target.network_fs && (
          <p
            role="note"
            data-testid="target-network-fs"
            className="mt-2 rounded bg-amber-50 p-2 text-xs text-amber-800 dark:bg-amber-950 dark:text-amber-200"
            title={d.target.db_path}
          >
            ⚠️{" "}
            {t(
              `pokervod.db가 네트워크 파일 시스템(${d.target.network_fs})에 있습니다. 여러 컴퓨터가 함께 쓰면 손상될 수 있으니 이 파일을 쓰는 프로그램이 하나인지 확인하고, WAL 모드는 켜지 마세요.`,
              `pokervod.db is on a network file system (${d.target.network_fs}); writers on several computers can corrupt it. Make sure one program writes it, and keep WAL off.`,
            )}
          </p>
        )}
      </Card>
      <Card icon="⚠️" title={t("제외됨", "Excluded")}>
        <dl className="grid grid-cols-[1fr_auto] gap-y-1 text-sm">
          <dt className="text-slate-500">{t("비호환", "Not HLS")}</dt>
          <dd className="tabular text-right font-semibold" data-testid="excluded-non-hls">
            {formatNumber(d.target.excluded.non_hls, lang)}
          </dd>
          <dt className="text-slate-500">{t("중복", "Duplicates")}</dt>
          <dd className="tabular text-right font-semibold" data-testid="excluded-duplicates">
            {formatNumber(d.target.excluded.duplicates, lang)}
          </dd>
          <dt className="text-slate-500">{t("반영 대기 (신규·변경)", "Pending (new·changed)")}</dt>
          <dd className="tabular text-right font-semibold" data-testid="pending-count">
            {formatNumber(d.matching.new + d.matching.changed, lang)}
          </dd>
        </dl>
      </Card>
      <Card icon="🔄" title={t("동기화", "Sync")}>
        <div className="flex flex-col gap-2">
          <Button
            variant="primary"
            data-testid="sync-card-run"
            disabled={running || sync.isPending}
            onClick={() => sync.mutate(null)}
          >
            {running ? t("진행 중…", "Running…") : t("실행", "Run")}
          </Button>
          <p className="text-xs text-slate-500" data-testid="last-sync-time">
            {d.sync_status.last_sync_time
              ? `${formatDateTime(d.sync_status.last_sync_time)} · ${relativeTime(d.sync_status.last_sync_time, Date.now(), lang)}`
              : t("아직 동기화하지 않았습니다", "Not synced yet")}
          </p>
          {last && (
            <p className="text-xs text-slate-500">
              {t("추가", "added")} {last.added} · {t("변경", "updated")} {last.updated} ·{" "}
              {t("이동", "moved")} {last.moved} · {t("삭제", "deleted")} {last.deleted}
              {last.errors > 0 && (
                <span className="text-red-600"> · {t("에러", "errors")} {last.errors}</span>
              )}
            </p>
          )}
        </div>
      </Card>
    </div>
  );
}

function CatalogStats({ d }: { d: DashboardData }) {
  const { t, lang } = useLang();
  const rows = topCatalogs(d.catalogs, 6);
  const max = Math.max(1, ...rows.map((r) => r.count));
  return (
    <Card icon="📁" title={t("카탈로그별 파일 수", "Files per catalog")} testId="catalog-stats">
      {rows.length === 0 ? (
        <p className="text-sm text-slate-500">{t("파일이 없습니다", "No files")}</p>
      ) : (
        <ul className="flex flex-col gap-2">
          {rows.map((r) => (
            <li key={r.other ? "__other" : r.id}>
              <a
                href={r.other ? undefined : `matching?catalog=${encodeURIComponent(r.id)}`}
                onClick={(e) => {
                  e.preventDefault();
                  if (!r.other) navigate("matching", { catalog: r.id });
                }}
                className={cx(
                  "grid grid-cols-[7rem_1fr_4rem] items-center gap-3 text-sm",
                  !r.other && "cursor-pointer hover:opacity-80",
                )}
                data-testid="catalog-bar"
                data-catalog={r.other ? "기타" : r.id}
                data-count={r.count}
              >
                <span className="truncate font-medium" title={r.id}>
                  {r.other ? t("기타", "Other") : r.id}
                </span>
                <span className="h-3 rounded-full bg-slate-100 dark:bg-slate-800">
                  <span
                    className={cx("block h-3 rounded-full", r.other ? "bg-slate-400" : "bg-blue-500")}
                    style={{ width: `${Math.max(2, (r.count / max) * 100)}%` }}
                  />
                </span>
                <span className="tabular text-right">{formatNumber(r.count, lang)}</span>
              </a>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

function FormatStats({ d }: { d: DashboardData }) {
  const { t, lang } = useLang();
  const videos = d.source.by_type.video ?? 0;
  const nonHls = d.target.excluded.non_hls;
  const transcode = d.target.needs_transcode;
  const hls = Math.max(0, videos - nonHls - transcode);
  const part = (n: number) => (videos ? n / videos : 0);
  const rows = [
    { key: "hls", label: t("HLS 호환", "HLS compatible"), n: hls, color: "bg-emerald-500" },
    {
      key: "transcode",
      label: t("코덱 변환 필요 (HLS 확장자)", "Codec needs transcoding (HLS extension)"),
      n: transcode,
      color: "bg-amber-400",
    },
    { key: "non-hls", label: t("변환 필요 (mxf 등)", "Needs conversion (mxf, …)"), n: nonHls, color: "bg-red-400" },
  ];
  return (
    <Card icon="🎞️" title={t("포맷별 · 용량", "Formats · size")} testId="format-stats">
      <div className="flex h-3 overflow-hidden rounded-full bg-slate-100 dark:bg-slate-800" aria-hidden>
        {rows.map((r) => (
          <span key={r.key} className={r.color} style={{ width: `${part(r.n) * 100}%` }} />
        ))}
      </div>
      <ul className="mt-3 flex flex-col gap-1.5 text-sm">
        {rows.map((r) => (
          <li key={r.key} className="flex items-center gap-2" data-testid={`format-${r.key}`}>
            <span aria-hidden className={cx("h-2.5 w-2.5 rounded-full", r.color)} />
            <span className="flex-1">{r.label}</span>
            <span className="tabular font-semibold">{formatNumber(r.n, lang)}</span>
            <span className="tabular w-12 text-right text-slate-500">{formatPercent(part(r.n))}</span>
          </li>
        ))}
      </ul>
      <dl className="mt-4 grid grid-cols-2 gap-3 border-t border-slate-100 pt-3 text-sm dark:border-slate-800">
        <div>
          <dt className="text-slate-500">{t("총 용량", "Total size")}</dt>
          <dd className="font-semibold" data-testid="total-size">
            {formatBytes(d.source.total_size_bytes)}
          </dd>
        </div>
        <div>
          <dt className="text-slate-500">{t("Target 포맷", "Target formats")}</dt>
          <dd className="flex flex-wrap gap-1">
            {Object.entries(d.target.by_format).map(([f, n]) => (
              <Badge key={f}>
                {f} {formatNumber(n, lang)}
              </Badge>
            ))}
          </dd>
        </div>
        <div>
          <dt className="text-slate-500">{t("영상 · 자막 · 기타", "Video · subtitles · other")}</dt>
          <dd className="tabular font-semibold">
            {formatNumber(videos, lang)} · {formatNumber(d.source.by_type.subtitle ?? 0, lang)} ·{" "}
            {formatNumber(d.source.by_type.other ?? 0, lang)}
          </dd>
        </div>
        <div>
          <dt className="text-slate-500">archive.db</dt>
          <dd className="font-semibold">{d.source.db_size_mb} MB</dd>
        </div>
      </dl>
    </Card>
  );
}

// ---------------------------------------------------------------------------------------------
// Actions: sync, reconcile, scan; the running job; the guard; the drift report.

function Actions({ sync }: { sync: SyncMutation }) {
  const { status } = useApp();
  const { t } = useLang();
  const { latest } = useLatestJobs();
  const scan = useStartScan();
  // Admin mode (PRD 4.1.3): the engine refuses 스캔 실행 and 강제 적용 without it; the refusal
  // asks for the PIN (or says to set one), then the same action is tried again.
  const settings = useSettings({ retry: false });
  const pinSet = settings.data?.admin_pin_set ?? false;
  const [report, setReport] = useState<ReconcileReport | null>(null);
  const reconcile = useReconcile(setReport);
  const busy = status?.job != null;
  const job = latest();
  const lastSync = latest("sync");
  const actionError = sync.error ?? scan.error ?? reconcile.error;
  // A reconcile that outlived the request (202) is shown when its job finishes.
  const reconcileJob = latest("reconcile");
  const shownReport =
    report ??
    (reconcileJob?.result?.kind === "reconcile" && reconcile.data && !reconcile.data.result
      ? (reconcileJob.result as ReconcileReport)
      : null);
  return (
    <Card icon="⚡" title={t("작업", "Actions")} testId="actions">
      <div className="flex flex-wrap items-center gap-2">
        <Button
          variant="primary"
          data-testid="action-sync"
          disabled={busy || sync.isPending}
          onClick={() => sync.mutate(null)}
        >
          🔄 {t("동기화 실행", "Run sync")}
        </Button>
        <Button
          data-testid="action-reconcile"
          disabled={busy || reconcile.isPending}
          onClick={() => {
            setReport(null);
            reconcile.mutate();
          }}
        >
          🔍 {t("정합성 검증", "Reconcile")}
        </Button>
        <Button
          data-testid="action-scan"
          disabled={busy || scan.isPending}
          onClick={() => scan.mutate()}
        >
          📡 {t("스캔 실행", "Run scan")}
          <Badge tone="violet">{pinSet ? `🔒 ${t("관리자", "admin")}` : t("관리자", "admin")}</Badge>
        </Button>
        {reconcile.isPending && <Spinner label={t("정합성 검증 중…", "Reconciling…")} />}
      </div>
      {adminNeed(scan.error) && (
        <AdminNeeded error={scan.error} retry={() => scan.mutate()} dismiss={() => scan.reset()} />
      )}
      {adminNeed(sync.error) && (
        <AdminNeeded error={sync.error} retry={() => sync.mutate(sync.variables ?? null)} dismiss={() => sync.reset()} />
      )}
      {actionError && !adminNeed(actionError) && <ActionError error={actionError} t={t} />}
      {job && (job.state === "running" || job.id === status?.job?.id) && <RunningJob job={job} />}
      {lastSync && lastSync.state === "refused" && !busy && (
        <GuardPanel
          job={lastSync}
          onForce={(approval) => sync.mutate(approval)}
          onRetry={() => sync.mutate(null)}
          forcing={sync.isPending}
        />
      )}
      {job && job.state !== "running" && job.id !== status?.job?.id && job.kind !== "reconcile" && (
        <FinishedJob job={job} />
      )}
      {shownReport && <DriftReport r={shownReport} onClose={() => setReport(null)} />}
    </Card>
  );
}

function ActionError({ error, t }: { error: Error; t: T }) {
  const e = error instanceof ApiError ? error : null;
  const msg =
    e?.status === 401
      ? t("접속 토큰이 필요합니다. 서버가 출력한 주소로 다시 여세요.", "A token is needed: open the address the server printed again.")
      : e?.status === 403
      ? t("이 작업을 할 권한이 없습니다 (관리자 토큰 필요).", "Not allowed: this needs the admin token.")
      : isUnreachable(error)
        ? t("서버에 연결할 수 없습니다.", "The server cannot be reached.")
        : error.message;
  return (
    <p role="alert" className="mt-3 rounded-lg bg-red-50 p-3 text-sm text-red-700 dark:bg-red-950 dark:text-red-300">
      {msg}
    </p>
  );
}

function RunningJob({ job }: { job: JobInfo }) {
  const { api } = useApp();
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

function syncReportOf(job: JobInfo): SyncReport | null {
  return job.result?.kind === "sync" ? (job.result as SyncReport) : null;
}

function FinishedJob({ job }: { job: JobInfo }) {
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
          {r.errors.length > 0 && ` · ${t("에러", "errors")} ${r.errors.length}`}
        </span>
      )}
      {job.error && job.error.code !== "target_busy" && (
        <span className="text-red-600" data-testid="job-error">
          {fieldMessage(job.error.message, lang)}
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
          <p className="font-semibold">🔒 {t("Target(pokervod.db)이 잠겨 있습니다", "The Target (pokervod.db) is locked")}</p>
          <p className="mt-1">
            {t(
              "다른 프로그램(OTT 서버, DB 도구)이 pokervod.db에 쓰는 중이라 기다리다 멈췄습니다. 아무것도 적용하지 않았습니다. 잠시 후 다시 실행하세요.",
              "Another program (the OTT server, a DB tool) is writing to pokervod.db; the sync gave up waiting and applied nothing. Run it again shortly.",
            )}
          </p>
          <p className="mt-1 font-mono text-xs opacity-70">{job.error.message}</p>
        </div>
      )}
    </div>
  );
}

function triggerKo(trigger: string): string {
  return trigger === "manual" ? "직접 실행" : trigger === "schedule" ? "자동 (예약)" : trigger === "watch" ? "자동 (변경 감지)" : trigger;
}

/**
 * The mass-delete guard refused a sync: the numbers, the rows it would delete, and a deliberate
 * two-step "review, then apply anyway".
 */
export function GuardPanel({
  job,
  onForce,
  onRetry,
  forcing,
}: {
  job: JobInfo;
  /** The reviewed refusal: this job and the deletions it showed. */
  onForce: (approval: ForceApproval) => void;
  onRetry?: () => void;
  forcing: boolean;
}) {
  const { t, lang } = useLang();
  const [reviewing, setReviewing] = useState(false);
  const [confirmed, setConfirmed] = useState(false);
  const r = syncReportOf(job);
  if (!r) return null;
  if (r.refused?.guard === "offline") return <OfflinePanel message={r.refused.message} onRetry={onRetry} />;
  const deletes = r.changes.filter((c) => c.event === "deleted");
  const pct = r.active_before ? r.deleted / r.active_before : 0;
  return (
    <div
      data-testid="guard-panel"
      role="alert"
      className="mt-4 rounded-lg border border-red-300 bg-red-50 p-4 text-sm dark:border-red-900 dark:bg-red-950"
    >
      <p className="text-base font-semibold text-red-800 dark:text-red-200">
        🛡️ {t("대량 삭제 방지: 동기화를 적용하지 않았습니다", "Mass-delete guard: the sync was not applied")}
      </p>
      <p className="mt-1 text-red-800 dark:text-red-200" data-testid="guard-numbers">
        {t(
          `이번 동기화는 활성 Target ${formatNumber(r.active_before, lang)}건 중 ${formatNumber(r.deleted, lang)}건(${(pct * 100).toFixed(1)}%)을 삭제로 표시하려 했습니다. pokervod.db에는 아무것도 쓰지 않았습니다.`,
          `This sync would mark ${formatNumber(r.deleted, lang)} of ${formatNumber(r.active_before, lang)} active Target rows deleted (${(pct * 100).toFixed(1)}%). Nothing was written to pokervod.db.`,
        )}
      </p>
      <p className="mt-1 text-xs text-red-700/80 dark:text-red-300/80">
        {t("함께 적용될 변경", "Other changes")}: {t("추가", "added")} {r.added} · {t("변경", "updated")} {r.updated} ·{" "}
        {t("이동", "moved")} {r.moved} · {t("복원", "restored")} {r.restored}
      </p>
      <p className="mt-2 text-red-800 dark:text-red-200">
        {t(
          "NAS 공유 폴더가 모두 연결되어 있는지, 폴더를 실수로 옮기거나 지우지 않았는지 먼저 확인하세요.",
          "First check that the whole NAS share is connected and that no folder was moved or deleted by mistake.",
        )}
      </p>
      {!reviewing ? (
        <div className="mt-3 flex flex-wrap gap-2">
          <Button variant="secondary" data-testid="guard-review" onClick={() => setReviewing(true)}>
            {t("검토 후 강제 적용", "Review and apply anyway")}
          </Button>
          <Button variant="ghost" onClick={() => navigate("matching", { status: "deleted" })}>
            {t("삭제 대상 보기 (1:1 매칭)", "See the rows to delete (matching)")}
          </Button>
        </div>
      ) : (
        <div className="mt-3 rounded-lg border border-red-200 bg-white p-3 dark:border-red-900 dark:bg-slate-900" data-testid="guard-review-panel">
          <p className="font-semibold">
            {t(`삭제될 파일 (${formatNumber(deletes.length, lang)}건 표시)`, `Rows to be deleted (${deletes.length} shown)`)}
          </p>
          <ul className="mt-2 max-h-48 overflow-auto font-mono text-xs" data-testid="guard-delete-list">
            {deletes.map((c) => (
              <li key={`${c.target_id}-${c.path}`} className="truncate py-0.5" title={c.path}>
                🗑️ {c.path} <span className="text-slate-400">ID {c.target_id}</span>
              </li>
            ))}
          </ul>
          <label className="mt-3 flex items-start gap-2">
            <input
              type="checkbox"
              data-testid="guard-confirm"
              checked={confirmed}
              onChange={(e) => setConfirmed(e.target.checked)}
              className="mt-0.5"
            />
            <span>
              {t(
                `위 ${formatNumber(r.deleted, lang)}건을 Target에서 삭제로 표시하는 것을 확인했습니다.`,
                `I have reviewed that ${formatNumber(r.deleted, lang)} rows will be marked deleted in the Target.`,
              )}
            </span>
          </label>
          <div className="mt-3 flex gap-2">
            <Button variant="danger" data-testid="guard-force" disabled={!confirmed || forcing} onClick={() => onForce({ refused_job: job.id, deletions: r.deleted })}>
              {t("강제 적용", "Apply anyway")}
            </Button>
            <Button variant="ghost" onClick={() => setReviewing(false)}>
              {t("닫기", "Close")}
            </Button>
          </div>
        </div>
      )}
    </div>
  );
}

/** The share looked offline (root missing, unreadable or empty): nothing was written anywhere. */
function OfflinePanel({ message, onRetry }: { message: string; onRetry?: () => void }) {
  const { t, lang } = useLang();
  return (
    <div
      data-testid="offline-panel"
      role="alert"
      className="mt-4 rounded-lg border border-amber-300 bg-amber-50 p-4 text-sm dark:border-amber-900 dark:bg-amber-950"
    >
      <p className="text-base font-semibold text-amber-900 dark:text-amber-100">
        📡 {t("NAS 공유 폴더에 연결할 수 없어 동기화를 멈췄습니다", "The NAS share cannot be reached; the sync stopped")}
      </p>
      <p className="mt-1 break-words text-amber-900 dark:text-amber-100">{fieldMessage(message, lang)}</p>
      <p className="mt-1 font-mono text-xs break-words text-amber-800/80 dark:text-amber-200/70" data-testid="offline-detail">
        {message}
      </p>
      <p className="mt-1 text-amber-900/80 dark:text-amber-200/80">
        {t("archive.db와 pokervod.db에는 아무것도 쓰지 않았습니다.", "Nothing was written to archive.db or pokervod.db.")}
      </p>
      <ul className="mt-2 list-disc pl-5 text-amber-900 dark:text-amber-100">
        <li>{t("NAS 전원과 네트워크 연결을 확인하세요.", "Check that the NAS is on and on the network.")}</li>
        <li>{t("탐색기에서 공유 경로가 열리는지, 드라이브 연결과 권한이 살아 있는지 확인하세요.", "Check that the share opens in Explorer and the credentials are valid.")}</li>
        <li>
          <button type="button" className="underline" onClick={() => navigate("settings")}>
            {t("설정에서 루트 경로 확인", "Check the root path in Settings")}
          </button>
        </li>
      </ul>
      {onRetry && (
        <Button className="mt-3" data-testid="offline-retry" onClick={onRetry}>
          {t("다시 시도", "Try again")}
        </Button>
      )}
    </div>
  );
}

export function DriftReport({ r, onClose }: { r: ReconcileReport; onClose: () => void }) {
  const { t, lang } = useLang();
  const sections: { key: string; label: string; count: number; items: string[] }[] = [
    { key: "on_share_not_in_archive", label: t("NAS에 있으나 archive.db에 없음 (신규·이동)", "On the share, not in archive.db (new/moved)"), count: r.on_share_not_in_archive.count, items: r.on_share_not_in_archive.items },
    { key: "in_archive_not_on_share", label: t("archive.db에 있으나 NAS에 없음 (삭제·이동)", "In archive.db, gone from the share"), count: r.in_archive_not_on_share.count, items: r.in_archive_not_on_share.items },
    { key: "modified_on_share", label: t("NAS에서 변경됨 (크기·수정 시각)", "Modified on the share"), count: r.modified_on_share.count, items: r.modified_on_share.items },
    { key: "moved_on_share", label: t("NAS에서 이동됨", "Moved on the share"), count: r.moved_on_share.count, items: r.moved_on_share.items.map((m) => `${m.from} → ${m.to}`) },
    { key: "would_insert", label: t("다음 동기화에서 추가", "Next sync inserts"), count: r.would_insert.count, items: r.would_insert.items },
    { key: "would_update", label: t("다음 동기화에서 변경", "Next sync updates"), count: r.would_update.count, items: r.would_update.items },
    { key: "would_move", label: t("다음 동기화에서 이동", "Next sync moves"), count: r.would_move.count, items: r.would_move.items.map((m) => `${m.from} → ${m.to}`) },
    { key: "would_restore", label: t("다음 동기화에서 복원", "Next sync restores"), count: r.would_restore.count, items: r.would_restore.items },
    { key: "would_delete", label: t("다음 동기화에서 삭제", "Next sync deletes"), count: r.would_delete.count, items: r.would_delete.items.map((x) => `${x.nas_path} (ID ${x.id})`) },
    { key: "target_paths_missing", label: t("Target 경로가 NAS에 없음", "Target paths missing on the share"), count: r.target_paths_missing.count, items: r.target_paths_missing.items.map((x) => `${x.nas_path} (ID ${x.id})`) },
  ];
  const drift = sections.filter((s) => s.count > 0);
  return (
    <div data-testid="drift-report" data-in-sync={r.in_sync} className="mt-4 rounded-lg border border-slate-200 p-4 dark:border-slate-700">
      <div className="flex items-start justify-between gap-2">
        <div>
          <p className="text-base font-semibold">
            {r.in_sync ? `✅ ${t("정합성 검증: 차이 없음", "Reconcile: in sync")}` : `⚠️ ${t("정합성 검증: 차이 발견", "Reconcile: drift found")}`}
          </p>
          <p className="tabular mt-1 text-sm text-slate-500">
            NAS {formatNumber(r.share_files, lang)} · archive.db {formatNumber(r.archive_files, lang)} · Target{" "}
            {formatNumber(r.target_active, lang)} {t("(활성)", "(active)")} · {formatDuration(r.duration_ms / 1000, lang)}
          </p>
        </div>
        <Button size="sm" variant="ghost" onClick={onClose} aria-label={t("닫기", "Close")}>
          ✕
        </Button>
      </div>
      {drift.length > 0 && (
        <ul className="mt-3 flex flex-col gap-1">
          {drift.map((s) => (
            <li key={s.key}>
              <details>
                <summary className="cursor-pointer text-sm">
                  <span className="tabular font-semibold">{formatNumber(s.count, lang)}</span> {s.label}
                </summary>
                <ul className="mt-1 max-h-40 overflow-auto pl-5 font-mono text-xs text-slate-600 dark:text-slate-300">
                  {s.items.map((i) => (
                    <li key={i} className="truncate" title={i}>
                      {i}
                    </li>
                  ))}
                  {s.count > s.items.length && <li>… +{formatNumber(s.count - s.items.length, lang)}</li>}
                </ul>
              </details>
            </li>
          ))}
        </ul>
      )}
      {r.needs_transcode.count > 0 && (
        <details className="mt-3">
          <summary className="cursor-pointer text-sm text-amber-700 dark:text-amber-300">
            🎞️ {t(`트랜스코딩 필요 ${formatNumber(r.needs_transcode.count, lang)}건 (차이로 세지 않음)`, `${r.needs_transcode.count} need transcoding (not drift)`)}
          </summary>
          <ul className="mt-1 max-h-40 overflow-auto pl-5 font-mono text-xs text-slate-600 dark:text-slate-300">
            {r.needs_transcode.items.map((i) => (
              <li key={i.path} className="truncate" title={i.reason}>
                {i.path} · {i.codec}
              </li>
            ))}
          </ul>
        </details>
      )}
      {r.warnings.length > 0 && (
        <p className="mt-2 text-sm text-amber-700">
          {t("경고", "Warnings")}: {r.warnings.map((w) => w.path).join(", ")}
        </p>
      )}
    </div>
  );
}
