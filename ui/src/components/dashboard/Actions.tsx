// Actions: sync, reconcile, scan; the running job; the guard; the drift report.
import { useState } from "react";
import { ApiError, adminNeed, isUnreachable, type ReconcileReport } from "../../api";
import { useLang, type T } from "../../i18n";
import { useApp } from "../../state/app";
import { useReconcile, useSettings, useStartScan, type SyncMutation } from "../../state/queries";
import { AdminNeeded } from "../admin";
import { useLatestJobs } from "../jobs";
import { Badge, Button, Card, Spinner } from "../ui";
import { DriftReport } from "./DriftReport";
import { GuardPanel } from "./GuardPanel";
import { FinishedJob, RunningJob } from "./JobPanels";
import { Glyph } from "../Glyph";

export function Actions({ sync }: { sync: SyncMutation }) {
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
    <Card icon={<Glyph of="⚡" />} title={t("작업", "Actions")} testId="actions">
      <div className="flex flex-wrap items-center gap-2">
        <Button
          variant="primary"
          data-testid="action-sync"
          disabled={busy || sync.isPending}
          onClick={() => sync.mutate(null)}
        >
          <Glyph of="🔄" /> {t("동기화 실행", "Run sync")}
        </Button>
        <Button
          data-testid="action-reconcile"
          disabled={busy || reconcile.isPending}
          onClick={() => {
            setReport(null);
            reconcile.mutate();
          }}
        >
          <Glyph of="🔍" /> {t("정합성 검증", "Reconcile")}
        </Button>
        <Button
          data-testid="action-scan"
          disabled={busy || scan.isPending}
          onClick={() => scan.mutate()}
        >
          <Glyph of="🗃️" /> {t("스캔 실행", "Run scan")}
          <Badge tone="violet">{pinSet ? <><Glyph of="🔒" /> {t("관리자", "admin")}</> : t("관리자", "admin")}</Badge>
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
      {shownReport && <DriftReport r={shownReport} jobId={reconcile.data?.job_id ?? null} onClose={() => setReport(null)} />}
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
