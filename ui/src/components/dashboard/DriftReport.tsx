// What a reconcile found: the drift per kind (each expandable), transcoding needs, warnings.
import type { ReconcileReport } from "../../api";
import { formatDuration, formatNumber } from "../../format";
import { useLang } from "../../i18n";
import { Button } from "../ui";
import { Glyph } from "../Glyph";
import { ExportButton } from "../ExportDialog";

/** Rows of the report's CSV (one per listed finding) and whether a section lists only part. */
export function reportRows(r: ReconcileReport): { rows: number; partial: boolean } {
  const sections = [
    r.on_share_not_in_archive,
    r.in_archive_not_on_share,
    r.modified_on_share,
    r.moved_on_share,
    r.would_insert,
    r.would_update,
    r.would_move,
    r.would_restore,
    r.would_delete,
    r.target_paths_missing,
    r.needs_transcode,
  ];
  return {
    rows: sections.reduce((n, s) => n + s.items.length, 0) + r.warnings.length,
    partial: sections.some((s) => s.count > s.items.length),
  };
}

export function DriftReport({ r, jobId, onClose }: { r: ReconcileReport; jobId: number | null; onClose: () => void }) {
  const { t, lang } = useLang();
  const csv = reportRows(r);
  const sections: { key: string; label: string; count: number; items: string[] }[] = [
    { key: "on_share_not_in_archive", label: t("NAS에 있으나 원본 목록에 없음 (신규·이동)", "On the share, not in the Source list (new/moved)"), count: r.on_share_not_in_archive.count, items: r.on_share_not_in_archive.items },
    { key: "in_archive_not_on_share", label: t("원본 목록에 있으나 NAS에 없음 (삭제·이동)", "In the Source list, gone from the share"), count: r.in_archive_not_on_share.count, items: r.in_archive_not_on_share.items },
    { key: "modified_on_share", label: t("NAS에서 변경됨 (크기·수정 시각)", "Modified on the share"), count: r.modified_on_share.count, items: r.modified_on_share.items },
    { key: "moved_on_share", label: t("NAS에서 이동됨", "Moved on the share"), count: r.moved_on_share.count, items: r.moved_on_share.items.map((m) => `${m.from} → ${m.to}`) },
    { key: "would_insert", label: t("다음 동기화에서 추가", "Next sync inserts"), count: r.would_insert.count, items: r.would_insert.items },
    { key: "would_update", label: t("다음 동기화에서 변경", "Next sync updates"), count: r.would_update.count, items: r.would_update.items },
    { key: "would_move", label: t("다음 동기화에서 이동", "Next sync moves"), count: r.would_move.count, items: r.would_move.items.map((m) => `${m.from} → ${m.to}`) },
    { key: "would_restore", label: t("다음 동기화에서 복원", "Next sync restores"), count: r.would_restore.count, items: r.would_restore.items },
    { key: "would_delete", label: t("다음 동기화에서 삭제", "Next sync deletes"), count: r.would_delete.count, items: r.would_delete.items.map((x) => `${x.nas_path} (ID ${x.id})`) },
    { key: "target_paths_missing", label: t("OTT 플랫폼의 경로가 NAS에 없음", "OTT platform paths missing on the share"), count: r.target_paths_missing.count, items: r.target_paths_missing.items.map((x) => `${x.nas_path} (ID ${x.id})`) },
  ];
  const drift = sections.filter((s) => s.count > 0);
  return (
    <div data-testid="drift-report" data-in-sync={r.in_sync} className="mt-4 rounded-lg border border-slate-200 p-4 dark:border-slate-700">
      <div className="flex items-start justify-between gap-2">
        <div>
          <p className="text-base font-semibold">
            {r.in_sync ? <><Glyph of="✅" /> {t("정합성 검증: 차이 없음", "Reconcile: in sync")}</> : <><Glyph of="⚠️" /> {t("정합성 검증: 차이 발견", "Reconcile: drift found")}</>}
          </p>
          <p className="tabular mt-1 text-sm text-slate-500">
            NAS {formatNumber(r.share_files, lang)} · {t("원본 목록", "Source list")} {formatNumber(r.archive_files, lang)} · {t("OTT 플랫폼", "OTT platform")}{" "}
            {formatNumber(r.target_active, lang)} {t("(활성)", "(active)")} · {formatDuration(r.duration_ms / 1000, lang)}
          </p>
        </div>
        <div className="flex items-center gap-1">
          <ExportButton
            testId="reconcile-export"
            spec={{
              what: t(
                `정합성 검증 보고서${jobId !== null ? ` (작업 #${jobId})` : ""} — 찾은 항목마다 한 행, 구분 열 포함`,
                `Reconcile report${jobId !== null ? ` (job #${jobId})` : ""} — one row per finding, with its section`,
              ),
              filters: [],
              rows: csv.rows,
              note: csv.partial
                ? t(
                    "섹션마다 처음 1,000건까지 들어갑니다 (화면과 같음). 전체 목록: nas-sync reconcile --csv",
                    "Each section has its first 1,000 findings (as shown). Every finding: nas-sync reconcile --csv",
                  )
                : undefined,
              request: (l) => ({ kind: "reconcile", jobId, lang: l }),
            }}
          />
          <Button size="sm" variant="ghost" onClick={onClose} aria-label={t("닫기", "Close")}>
            ✕
          </Button>
        </div>
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
            <Glyph of="🎞️" /> {t(`트랜스코딩 필요 ${formatNumber(r.needs_transcode.count, lang)}건 (차이로 세지 않음)`, `${r.needs_transcode.count} need transcoding (not drift)`)}
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
