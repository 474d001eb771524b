import { useEffect, useRef, useState } from "react";
import { useApp } from "../state/app";
import { errorAdvice, monitorLabel, jobLabel, useLang } from "../i18n";
import { formatDateTime, relativeTime } from "../format";
import { navigate, useLocation, type View } from "../state/router";
import { cx } from "./ui";
import type { StatusKind } from "../api";
import { Glyph, type GlyphName } from "./Glyph";

const lightColor: Record<StatusKind, string> = {
  ok: "bg-emerald-500",
  running: "bg-blue-500 animate-pulse",
  error: "bg-red-500",
  paused: "bg-slate-500",
  warning: "bg-amber-500",
};

/** The status light: 정상 / 진행중 / 에러 / 일시정지 / 경고; the last error on hover or click. */
export function StatusLight() {
  const { status, online } = useApp();
  const { t, lang } = useLang();
  // Shown while hovered, or pinned by a click (keyboard: Enter/Space) until Escape or a click outside.
  const [hover, setHover] = useState(false);
  const [pinned, setPinned] = useState(false);
  const open = hover || pinned;
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (e: MouseEvent | KeyboardEvent) => {
      if (e instanceof KeyboardEvent ? e.key === "Escape" : !ref.current?.contains(e.target as Node)) {
        setPinned(false);
        setHover(false);
      }
    };
    document.addEventListener("mousedown", close);
    document.addEventListener("keydown", close);
    return () => {
      document.removeEventListener("mousedown", close);
      document.removeEventListener("keydown", close);
    };
  }, [open]);
  const kind: StatusKind | null = online ? (status?.status ?? null) : null;
  const label = !online
    ? t("연결 끊김", "Disconnected")
    : kind
      ? monitorLabel(kind, t)
      : t("확인 중", "Checking");
  const running = status?.job ? ` · ${jobLabel(status.job.kind, t)}` : "";
  const err = status?.last_error;
  return (
    <div
      ref={ref}
      className="relative"
      onMouseEnter={() => setHover(true)}
      onMouseLeave={() => setHover(false)}
    >
      <button
        type="button"
        data-testid="status-light"
        data-status={kind ?? "offline"}
        aria-expanded={open}
        aria-label={`${t("상태", "Status")}: ${label}`}
        onClick={() => setPinned((p) => !p)}
        className="flex items-center gap-2 rounded-full border border-slate-200 bg-white px-3 py-1.5 text-sm font-medium dark:border-slate-700 dark:bg-slate-900"
      >
        <span
          aria-hidden
          className={cx("h-2.5 w-2.5 rounded-full", kind ? lightColor[kind] : "bg-slate-400")}
        />
        <span>
          {label}
          {running}
        </span>
      </button>
      {open && (
        <div
          role="tooltip"
          data-testid="status-details"
          className="absolute right-0 z-30 mt-2 w-80 rounded-xl border border-slate-200 bg-white p-4 text-sm shadow-lg dark:border-slate-700 dark:bg-slate-900"
        >
          <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1.5">
            <dt className="text-slate-500">{t("마지막 동기화", "Last sync")}</dt>
            <dd>
              {status?.last_sync
                ? `${formatDateTime(status.last_sync)} (${relativeTime(status.last_sync, Date.now(), lang)})`
                : t("아직 없음", "never")}
            </dd>
            <dt className="text-slate-500">{t("다음 자동 동기화", "Next automatic sync")}</dt>
            <dd>
              {status?.paused
                ? t("일시정지됨", "paused")
                : status?.next_sync
                  ? formatDateTime(status.next_sync)
                  : t("예약 없음", "not scheduled")}
            </dd>
          </dl>
          {online && (status?.problems ?? 0) > 0 && (
            <button
              type="button"
              data-testid="status-problems"
              onClick={() => {
                setPinned(false);
                setHover(false);
                navigate("problems");
              }}
              className="mt-3 w-full rounded-lg bg-amber-50 p-3 text-left font-semibold text-amber-800 hover:bg-amber-100 dark:bg-amber-950 dark:text-amber-200"
            >
              {t(`문제 ${status?.problems}건 — 문제 목록 보기`, `${status?.problems} problems — open the list`)}
            </button>
          )}
          {!online && (
            <p className="mt-3 text-amber-700 dark:text-amber-300">
              {t(
                "서버에 연결할 수 없습니다. 다시 연결하는 중…",
                "The server cannot be reached. Reconnecting…",
              )}
            </p>
          )}
          {err && (
            <div className="mt-3 rounded-lg bg-red-50 p-3 text-red-800 dark:bg-red-950 dark:text-red-200">
              <p className="font-semibold">
                {t("마지막 에러", "Last error")} · {formatDateTime(err.time)}
              </p>
              <p className="mt-1 break-words" data-testid="last-error">
                {errorAdvice(err.code, t)}
              </p>
              <p className="mt-1 font-mono text-xs opacity-70">{err.code}</p>
            </div>
          )}
        </div>
      )}
    </div>
  );
}

const NAV: { view: View; ko: string; en: string; icon: GlyphName }[] = [
  { view: "dashboard", ko: "대시보드", en: "Dashboard", icon: "📊" },
  { view: "matching", ko: "1:1 매칭", en: "Matching", icon: "🗂️" },
  { view: "problems", ko: "문제", en: "Problems", icon: "⚠️" },
  { view: "logs", ko: "실시간 로그", en: "Live log", icon: "📜" },
  { view: "history", ko: "변경 이력", en: "History", icon: "📋" },
  { view: "settings", ko: "설정", en: "Settings", icon: "⚙️" },
];

export function Header() {
  const { view } = useLocation();
  const { t, lang, setLang } = useLang();
  const { status } = useApp();
  const problems = status?.problems ?? 0;
  return (
    <header className="sticky top-0 z-20 border-b border-slate-200 bg-white/90 backdrop-blur dark:border-slate-800 dark:bg-slate-900/90">
      <div className="mx-auto flex max-w-7xl flex-wrap items-center gap-x-6 gap-y-2 px-4 py-3">
        <h1 className="flex items-center gap-2 text-lg font-bold">
          <span aria-hidden><Glyph of="🔄" /></span>
          {t("NAS 동기화 모니터", "NAS Sync Monitor")}
        </h1>
        <nav aria-label={t("화면", "Screens")} className="order-3 w-full md:order-none md:w-auto">
          <ul className="flex gap-1 overflow-x-auto">
            {NAV.map((n) => (
              <li key={n.view}>
                <a
                  href={n.view === "dashboard" ? "./" : n.view}
                  data-testid={`nav-${n.view}`}
                  aria-current={view === n.view ? "page" : undefined}
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(n.view);
                  }}
                  className={cx(
                    "flex items-center gap-1.5 rounded-lg px-3 py-1.5 text-sm font-medium whitespace-nowrap",
                    view === n.view
                      ? "bg-blue-50 text-blue-700 dark:bg-blue-950 dark:text-blue-300"
                      : "text-slate-600 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800",
                  )}
                >
                  <Glyph of={n.icon} />
                  {lang === "ko" ? n.ko : n.en}
                  {n.view === "problems" && problems > 0 && (
                    <span
                      data-testid="nav-problems-count"
                      className="rounded-full bg-amber-500 px-1.5 text-xs font-semibold text-white"
                    >
                      {problems}
                    </span>
                  )}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="ml-auto flex items-center gap-3">
          <button
            type="button"
            data-testid="lang-switch"
            onClick={() => setLang(lang === "ko" ? "en" : "ko")}
            className="rounded-lg px-2 py-1 text-xs font-semibold text-slate-500 hover:bg-slate-100 dark:hover:bg-slate-800"
            aria-label={t("언어 바꾸기 (English)", "Switch language (한국어)")}
          >
            {lang === "ko" ? "English" : "한국어"}
          </button>
          <StatusLight />
        </div>
      </div>
    </header>
  );
}
