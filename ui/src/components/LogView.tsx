import { memo, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import type { Level, LogLine } from "../api";
import { formatClock, formatNumber } from "../format";
import { useLang, type Lang, type T } from "../i18n";
import { useApi, useLogLines, useOnline } from "../state/app";
import { Button, Card, EmptyState, cx } from "./ui";
import { Glyph } from "./Glyph";

const LEVELS: Level[] = ["ERROR", "WARN", "INFO", "DEBUG"];

/** Level colours on the log's dark background (light and dark theme alike). */
const levelClass: Record<Level, string> = {
  ERROR: "text-red-400",
  WARN: "text-amber-300",
  INFO: "text-sky-400",
  DEBUG: "text-slate-500",
  TRACE: "text-slate-500",
};

/** The level menu in words: which lines are shown. */
function levelLabel(l: Level, t: T): string {
  switch (l) {
    case "ERROR":
      return t("에러만", "Errors only");
    case "WARN":
      return t("경고 이상", "Warnings and errors");
    case "INFO":
      return t("일반 (권장)", "Normal (recommended)");
    default:
      return t("전체 (개발자용)", "Everything (for developers)");
  }
}

/**
 * The engine writes its log lines as "한국어 / English"; the screen shows the half in the chosen
 * language. A line without that shape (or whose halves are not one Korean, one English) is shown
 * whole.
 */
export function inLang(message: string, lang: Lang): string {
  const at = message.indexOf(" / ");
  if (at < 0) return message;
  const ko = message.slice(0, at);
  const en = message.slice(at + 3);
  const hangul = /[\uac00-\ud7a3]/;
  if (!hangul.test(ko) || hangul.test(en)) return message;
  return lang === "ko" ? ko : en;
}

const rank: Record<Level, number> = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };

/**
 * One line. Memoised: a new line renders itself only, not the thousand kept before it (the
 * PRD's "< 100 ms to the screen" holds with a full log).
 */
const LogRow = memo(function LogRow({ l, lang }: { l: LogLine; lang: Lang }) {
  return (
    <div
      data-testid="log-line"
      data-level={l.level}
      data-time={l.time}
      // Off-screen rows are not laid out (1,000 kept lines, each new one scrolls them all).
      className="flex gap-2 whitespace-pre-wrap break-all [contain-intrinsic-size:auto_20px] [content-visibility:auto]"
    >
      <span className="shrink-0 text-slate-500">{formatClock(l.time)}</span>
      <span className={cx("w-12 shrink-0 font-semibold", levelClass[l.level])}>[{l.level}]</span>
      <span className={l.level === "ERROR" ? "text-red-300" : l.level === "WARN" ? "text-amber-200" : ""}>
        {inLang(l.message, lang)}
      </span>
    </div>
  );
});

/** Whether a scrolled box is at (or within a line of) its bottom. */
export function atBottom(el: { scrollTop: number; scrollHeight: number; clientHeight: number }) {
  return el.scrollHeight - el.scrollTop - el.clientHeight < 24;
}

export function LogView() {
  const { t, lang } = useLang();
  const api = useApi();
  const online = useOnline();
  const logs = useLogLines();
  const [min, setMin] = useState<Level>("INFO");
  const [follow, setFollow] = useState(true);
  const box = useRef<HTMLDivElement>(null);
  const [search, setSearch] = useState("");
  const needle = search.trim().toLowerCase();
  const rev = logs.rev;
  const lines = useMemo(
    () =>
      logs
        .all()
        .filter((l) => rank[l.level] >= rank[min] && (!needle || inLang(l.message, lang).toLowerCase().includes(needle))),
    // `rev` changes with every line the store keeps (the array is the store's own).
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [logs, rev, min, needle, lang],
  );
  const [folder, setFolder] = useState<string | null>(null);
  const last = lines.length ? lines[lines.length - 1].seq : 0;

  // Follow the tail unless the reader scrolled up.
  useLayoutEffect(() => {
    const el = box.current;
    if (el && follow) el.scrollTop = el.scrollHeight;
  }, [last, follow, min]);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const onScroll = () => setFollow(atBottom(el));
    el.addEventListener("scroll", onScroll, { passive: true });
    return () => el.removeEventListener("scroll", onScroll);
  }, []);

  return (
    <Card
      icon={<Glyph of="📜" />}
      title={t("실시간 로그", "Live log")}
      testId="logs"
      actions={
        <>
          <input
            type="search"
            data-testid="log-search"
            aria-label={t("로그 검색", "Search the log")}
            placeholder={t("로그 검색", "Search the log")}
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            className="w-40 rounded-md border border-slate-300 bg-white px-2 py-1 text-xs dark:border-slate-700 dark:bg-slate-900"
          />
          <label htmlFor="log-level" className="text-xs text-slate-500">
            {t("레벨", "Level")}
          </label>
          <select
            id="log-level"
            data-testid="log-level"
            value={min}
            onChange={(e) => setMin(e.target.value as Level)}
            className="rounded-md border border-slate-300 bg-white px-2 py-1 text-xs dark:border-slate-700 dark:bg-slate-900"
          >
            {LEVELS.map((l) => (
              <option key={l} value={l}>
                {levelLabel(l, t)}
              </option>
            ))}
          </select>
          <Button size="sm" data-testid="log-clear" onClick={() => logs.clear()}>
            {t("화면 지우기", "Clear")}
          </Button>
          {api.kind === "tauri" && (
            <Button
              size="sm"
              data-testid="log-folder"
              title={folder ?? undefined}
              onClick={() => void api.openLogFolder().then((f) => setFolder(f?.path ?? null), () => setFolder(null))}
            >
              {t("로그 폴더 열기", "Open log folder")}
            </Button>
          )}
        </>
      }
    >
      <div className="mb-2 flex items-center gap-3 text-xs text-slate-500">
        <span className={cx("h-2 w-2 rounded-full", online ? "bg-emerald-500" : "bg-slate-400")} aria-hidden />
        <span>{online ? t("실시간 연결됨", "Live") : t("다시 연결하는 중…", "Reconnecting…")}</span>
        <span data-testid="log-count">
          {t(`${formatNumber(lines.length, lang)}줄 (최근 1,000줄 보관)`, `${formatNumber(lines.length, lang)} lines (last 1,000 kept)`)}
        </span>
        {logs.missed > 0 && (
          <span className="text-amber-600">
            {t(`${logs.missed}줄 놓침`, `${logs.missed} lines missed`)}
          </span>
        )}
        {!follow && (
          <button
            type="button"
            data-testid="log-follow"
            className="ml-auto rounded-md bg-blue-600 px-2 py-0.5 text-white"
            onClick={() => setFollow(true)}
          >
            ↓ {t("최신 로그로", "Jump to latest")}
          </button>
        )}
      </div>
      <div
        ref={box}
        tabIndex={0}
        role="log"
        aria-live="polite"
        aria-label={t("로그 내용", "Log lines")}
        data-testid="log-box"
        className="h-[60vh] overflow-auto rounded-lg bg-slate-950 p-3 font-mono text-xs leading-5 text-slate-200"
      >
        {lines.length === 0 ? (
          <EmptyState icon={<Glyph of="🕊️" />} title={<span className="text-slate-300">{t("아직 로그가 없습니다", "No log lines yet")}</span>}>
            <span className="text-slate-400">
              {t("동기화를 실행하면 여기에 진행 상황이 표시됩니다.", "Run a sync and its progress shows here.")}
            </span>
          </EmptyState>
        ) : (
          lines.map((l) => <LogRow key={l.seq} l={l} lang={lang} />)
        )}
      </div>
    </Card>
  );
}
