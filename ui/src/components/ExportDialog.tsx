// CSV 내보내기: a button that opens a small dialog saying what will be exported (the screen, its
// filters in words, the row count), then exports every row (all pages, streamed by the server,
// or saved by the desktop app) with the header language chosen.
import { useEffect, useId, useState } from "react";
import type { CsvLang, ExportRequest, ExportSaved } from "../api";
import { formatBytes, formatNumber } from "../format";
import { useLang } from "../i18n";
import { useApi } from "../state/app";
import { Glyph } from "./Glyph";
import { Button, Spinner, cx } from "./ui";

/** What the dialog describes. `request` builds the export for the header language chosen. */
export type ExportSpec = {
  /** What is exported, e.g. "1:1 파일 매칭 현황 (모든 페이지)". */
  what: string;
  /** The filters in words ("상태: 신규"); empty: everything. */
  filters: string[];
  /** Rows the file will have (`null` while unknown). */
  rows: number | null;
  /** A remark shown under the count (e.g. a report that lists only part of a section). */
  note?: string;
  request: (lang: CsvLang) => ExportRequest;
};

/** `UTC+09:00` for this browser's zone now. */
export function zoneLabel(date = new Date()): string {
  const m = -date.getTimezoneOffset();
  const sign = m < 0 ? "-" : "+";
  const a = Math.abs(m);
  return `UTC${sign}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
}

export function ExportButton({ spec, testId, disabled }: { spec: ExportSpec; testId: string; disabled?: boolean }) {
  const { t } = useLang();
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button size="sm" data-testid={testId} disabled={disabled} onClick={() => setOpen(true)}>
        <Glyph of="📤" /> {t("내보내기 (CSV)", "Export (CSV)")}
      </Button>
      {open && <ExportDialog spec={spec} onClose={() => setOpen(false)} />}
    </>
  );
}

type Phase = { kind: "idle" } | { kind: "busy" } | { kind: "started" } | { kind: "saved"; saved: ExportSaved } | { kind: "error"; message: string };

export function ExportDialog({ spec, onClose }: { spec: ExportSpec; onClose: () => void }) {
  const { t, lang } = useLang();
  const api = useApi();
  const [csvLang, setCsvLang] = useState<CsvLang>(lang);
  const [phase, setPhase] = useState<Phase>({ kind: "idle" });
  const titleId = useId();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  const run = async () => {
    setPhase({ kind: "busy" });
    try {
      const r = await api.exportCsv(spec.request(csvLang));
      setPhase(r.saved ? { kind: "saved", saved: r.saved } : { kind: "started" });
    } catch (e) {
      setPhase({ kind: "error", message: e instanceof Error ? e.message : String(e) });
    }
  };
  const desktop = api.kind === "tauri";
  return (
    <div
      className="fixed inset-0 z-50 flex items-center justify-center bg-slate-900/40 p-4"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        data-testid="export-dialog"
        className="w-full max-w-lg rounded-xl border border-slate-200 bg-white p-5 shadow-xl dark:border-slate-700 dark:bg-slate-900"
      >
        <h2 id={titleId} className="flex items-center gap-2 text-base font-semibold">
          <Glyph of="📤" /> {t("CSV 내보내기", "Export to CSV")}
        </h2>
        <dl className="mt-4 grid grid-cols-[auto_1fr] gap-x-4 gap-y-2 text-sm">
          <dt className="text-slate-500">{t("내용", "Contents")}</dt>
          <dd className="font-medium" data-testid="export-what">
            {spec.what}
          </dd>
          <dt className="text-slate-500">{t("필터", "Filters")}</dt>
          <dd data-testid="export-filters">
            {spec.filters.length === 0 ? (
              <span className="text-slate-600 dark:text-slate-300">{t("없음 (전체)", "None (everything)")}</span>
            ) : (
              <ul className="flex flex-wrap gap-1">
                {spec.filters.map((f) => (
                  <li key={f} className="rounded-md bg-slate-100 px-1.5 py-0.5 text-xs dark:bg-slate-800">
                    {f}
                  </li>
                ))}
              </ul>
            )}
          </dd>
          <dt className="text-slate-500">{t("행 수", "Rows")}</dt>
          <dd data-testid="export-rows" data-value={spec.rows ?? undefined}>
            <span className="tabular font-semibold">
              {spec.rows === null ? "…" : t(`${formatNumber(spec.rows, lang)}행`, `${formatNumber(spec.rows, lang)} rows`)}
            </span>{" "}
            <span className="text-xs text-slate-500">{t("+ 머리글 1행", "+ 1 header row")}</span>
            {spec.note && <p className="mt-1 text-xs text-amber-700 dark:text-amber-300">{spec.note}</p>}
          </dd>
          <dt className="text-slate-500">{t("형식", "Format")}</dt>
          <dd className="text-xs text-slate-600 dark:text-slate-300">
            {t(
              `CSV, UTF-8 (BOM) — Excel에서 한글이 그대로 열립니다. 시간은 ${desktop ? "이 컴퓨터" : "이 브라우저"}의 시간대 (${zoneLabel()}).`,
              `CSV, UTF-8 with BOM — opens in Excel with Hangul intact. Times in ${desktop ? "this computer's" : "this browser's"} time zone (${zoneLabel()}).`,
            )}
          </dd>
          <dt className="text-slate-500">
            <label htmlFor={`${titleId}-lang`}>{t("머리글 언어", "Header language")}</label>
          </dt>
          <dd>
            <select
              id={`${titleId}-lang`}
              data-testid="export-lang"
              value={csvLang}
              onChange={(e) => setCsvLang(e.target.value as CsvLang)}
              className="rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-950"
            >
              <option value="ko">한국어</option>
              <option value="en">English</option>
            </select>
          </dd>
        </dl>
        <div className={cx("text-sm", phase.kind !== "idle" && "mt-4")} aria-live="polite" data-testid="export-status" data-phase={phase.kind}>
          {phase.kind === "busy" && <Spinner label={t("내보내는 중…", "Exporting…")} />}
          {phase.kind === "started" && (
            <p className="text-emerald-700 dark:text-emerald-300">
              <Glyph of="✅" /> {t("다운로드를 시작했습니다. 브라우저의 다운로드 목록을 확인하세요.", "The download has started; see the browser's downloads.")}
            </p>
          )}
          {phase.kind === "saved" && (
            <p className="text-emerald-700 dark:text-emerald-300">
              <Glyph of="✅" />{" "}
              {t(
                `${formatNumber(phase.saved.rows, lang)}행 (${formatBytes(phase.saved.bytes)})을 저장했습니다:`,
                `Saved ${formatNumber(phase.saved.rows, lang)} rows (${formatBytes(phase.saved.bytes)}) to`,
              )}{" "}
              <code className="break-all rounded bg-slate-100 px-1 text-xs text-slate-800 dark:bg-slate-800 dark:text-slate-200" data-testid="export-path">
                {phase.saved.path}
              </code>
            </p>
          )}
          {phase.kind === "error" && (
            <p role="alert" className="text-red-700 dark:text-red-300">
              {t("내보낼 수 없습니다", "Cannot export")}: {phase.message}
            </p>
          )}
        </div>
        <div className="mt-5 flex justify-end gap-2">
          <Button variant="ghost" onClick={onClose} data-testid="export-close">
            {phase.kind === "started" || phase.kind === "saved" ? t("닫기", "Close") : t("취소", "Cancel")}
          </Button>
          <Button
            autoFocus
            variant="primary"
            data-testid="export-run"
            disabled={phase.kind === "busy" || spec.rows === null}
            onClick={() => void run()}
            className={cx(phase.kind === "saved" && "hidden")}
          >
            <Glyph of="📥" /> {phase.kind === "started" ? t("다시 내보내기", "Export again") : desktop ? t("다운로드 폴더에 저장", "Save to Downloads") : t("내보내기", "Export")}
          </Button>
        </div>
      </div>
    </div>
  );
}
