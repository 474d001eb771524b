// A sync the engine refused: the mass-delete guard (review, then apply anyway) or the share offline.
import { useState } from "react";
import type { ForceApproval, JobInfo } from "../../api";
import { fieldMessage, formatNumber } from "../../format";
import { useLang } from "../../i18n";
import { navigate } from "../../state/router";
import { Button } from "../ui";
import { syncReportOf } from "./JobPanels";
import { Glyph } from "../Glyph";

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
        <Glyph of="🛡️" /> {t("대량 삭제 방지: 동기화를 적용하지 않았습니다", "Mass-delete guard: the sync was not applied")}
      </p>
      <p className="mt-1 text-red-800 dark:text-red-200" data-testid="guard-numbers">
        {t(
          `이번 동기화는 활성 Target ${formatNumber(r.active_before, lang)}건 중 ${formatNumber(r.deleted, lang)}건(${(pct * 100).toFixed(1)}%)을 삭제로 표시하려 했습니다. OTT 플랫폼에는 아무것도 쓰지 않았습니다.`,
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
                <Glyph of="🗑️" /> {c.path} <span className="text-slate-400">ID {c.target_id}</span>
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
        <Glyph of="📡" /> {t("NAS 공유 폴더에 연결할 수 없어 동기화를 멈췄습니다", "The NAS share cannot be reached; the sync stopped")}
      </p>
      <p className="mt-1 break-words text-amber-900 dark:text-amber-100">{fieldMessage(message, lang)}</p>
      <p className="mt-1 text-amber-900/80 dark:text-amber-200/80">
        {t("원본 목록과 OTT 플랫폼에는 아무것도 쓰지 않았습니다.", "Nothing was written to the Source list or the OTT platform.")}
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
