import { useEffect, useState } from "react";
import { needsSetup, type HistoryParams } from "../api";
import { formatDateTime, formatNumber, pageWindow, relativeTime } from "../format";
import { eventIcon, eventLabel, useLang, type T } from "../i18n";
import { useDashboard, useHistory } from "../state/queries";
import { navigate, useLocation } from "../state/router";
import { ErrorPanel } from "./ErrorPanel";
import { ExportButton } from "./ExportDialog";
import { Onboarding } from "./Onboarding";
import { Badge, Button, Card, EmptyState, Spinner, cx, fieldClass, type Tone } from "./ui";
import { Glyph } from "./Glyph";

const EVENTS = ["", "added", "deleted", "moved", "updated", "restored"];
const PER_PAGE = 20;

const tone: Record<string, Tone> = { added: "green", deleted: "red", moved: "blue", updated: "violet", restored: "amber" };

/**
 * The date picked (`YYYY-MM-DD`, as the address bar keeps it) as the instant its day starts
 * where the operator is: "이후 2026-12-07" in Seoul includes that morning's changes, which a
 * UTC midnight (09:00 KST) would drop. Anything else goes to the server as typed (it says what
 * is wrong with it).
 */
export function localMidnight(date: string): string | undefined {
  if (!date) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return date;
  const d = new Date(`${date}T00:00:00`);
  return Number.isNaN(d.getTime()) ? date : d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The history's filters in words, for the export dialog. */
export function historyFilters(f: { event: string; catalog: string; since: string; search: string }, t: T): string[] {
  const out: string[] = [];
  if (f.event) out.push(`${t("이벤트", "Event")}: ${eventLabel(f.event, t)}`);
  if (f.catalog) out.push(`${t("카탈로그", "Catalog")}: ${f.catalog}`);
  if (f.since) out.push(`${t("이후", "Since")}: ${f.since}`);
  if (f.search) out.push(`${t("검색", "Search")}: "${f.search}"`);
  return out;
}

export function History() {
  const { t, lang } = useLang();
  const { params } = useLocation();
  const event = params.get("event") ?? "";
  const catalog = params.get("catalog") ?? "";
  const since = params.get("since") ?? "";
  const search = params.get("search") ?? "";
  const page = Math.max(1, Number(params.get("page")) || 1);
  const set = (p: Record<string, string | number | null>) =>
    navigate("history", { event, catalog, since, search, page: null, ...p }, true);
  // Paged on the server (newest first): one page of rows per request, whatever the history's size.
  const query: HistoryParams = {
    // From the address bar as typed: the server checks it (a wrong value is a field message).
    event: (event || undefined) as HistoryParams["event"],
    catalog: catalog || undefined,
    since: localMidnight(since),
    search: search || undefined,
    limit: PER_PAGE,
    offset: (page - 1) * PER_PAGE,
  };
  const q = useHistory(query);
  // The search box: typing updates the address (and the query) after a short pause.
  const [typed, setTyped] = useState(search);
  useEffect(() => setTyped(search), [search]);
  useEffect(() => {
    if (typed === search) return;
    const h = setTimeout(() => navigate("history", { event, catalog, since, search: typed, page: null }, true), 300);
    return () => clearTimeout(h);
  }, [typed, search, event, catalog, since]);
  const dash = useDashboard();
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const h = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(h);
  }, []);
  if (q.error && needsSetup(q.error)) return <Onboarding />;
  const shown = q.data?.items ?? [];
  const total = q.data?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / PER_PAGE));
  return (
    <Card icon={<Glyph of="📋" />} title={t("최근 변경 이력", "Recent changes")} testId="history">
      <div className="mb-3 flex flex-wrap gap-2">
        <div role="tablist" aria-label={t("이벤트", "Event")} className="flex gap-1">
          {EVENTS.map((e) => (
            <button
              key={e || "all"}
              type="button"
              role="tab"
              aria-selected={event === e}
              data-testid={`hist-event-${e || "all"}`}
              onClick={() => set({ event: e })}
              className={cx(
                "rounded-lg px-2.5 py-1.5 text-sm whitespace-nowrap",
                event === e ? "bg-slate-900 text-white dark:bg-slate-100 dark:text-slate-900" : "text-slate-600 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800",
              )}
            >
              {e ? <><Glyph of={eventIcon[e]} /> {eventLabel(e, t)}</> : t("전체", "All")}
            </button>
          ))}
        </div>
        <select
          aria-label={t("카탈로그", "Catalog")}
          data-testid="hist-catalog"
          className={fieldClass}
          value={catalog}
          onChange={(e) => set({ catalog: e.target.value })}
        >
          <option value="">{t("모든 카탈로그", "All catalogs")}</option>
          {(dash.data?.catalogs ?? []).map((c) => (
            <option key={c.id} value={c.id}>
              {c.id}
            </option>
          ))}
        </select>
        <label className="flex items-center gap-2 text-sm text-slate-600 dark:text-slate-300">
          {t("이후", "Since")}
          <input
            type="date"
            data-testid="hist-since"
            className={fieldClass}
            value={since}
            onChange={(e) => set({ since: e.target.value })}
          />
        </label>
        <label className="sr-only" htmlFor="hist-search">
          {t("경로 검색", "Search paths")}
        </label>
        <input
          id="hist-search"
          type="search"
          data-testid="hist-search"
          className={cx(fieldClass, "w-full max-w-xs flex-1")}
          placeholder={t("경로 검색 (예: WSOP/2024)", "Search paths (e.g. WSOP/2024)")}
          value={typed}
          onChange={(e) => setTyped(e.target.value)}
        />
        {q.isFetching && <Spinner />}
        <div className="ml-auto">
          <ExportButton
            testId="history-export"
            disabled={!q.data}
            spec={{
              what: t("최근 변경 이력 — 모든 페이지 (최신순)", "Recent changes — every page (newest first)"),
              filters: historyFilters({ event, catalog, since, search }, t),
              rows: q.data?.total ?? null,
              request: (lang) => ({ kind: "history", query: { ...query, limit: undefined, offset: undefined }, lang }),
            }}
          />
        </div>
      </div>
      {q.error && !q.data ? (
        <ErrorPanel error={q.error} retry={() => void q.refetch()} />
      ) : !q.data ? (
        <Spinner label={t("불러오는 중…", "Loading…")} />
      ) : total === 0 ? (
        <EmptyState testId="history-empty" icon={<Glyph of="📭" />} title={t("변경 이력이 없습니다", "No changes yet")}>
          {event || catalog || since || search
            ? search
              ? t(`"${search}" 검색 결과가 없습니다. 필터를 바꿔 보세요.`, `Nothing found for "${search}"; try other filters.`)
              : t("필터를 바꿔 보세요.", "Try other filters.")
            : t("동기화가 Target에 변경을 적용하면 여기에 기록됩니다.", "Changes a sync applies to the Target are listed here.")}
        </EmptyState>
      ) : (
        <>
          <div className="overflow-x-auto">
            <table className="w-full min-w-[40rem] table-fixed text-sm" data-testid="history-table">
              <colgroup>
                <col className="w-28" />
                <col />
                <col className="w-32" />
                <col className="w-36" />
              </colgroup>
              <thead>
                <tr className="border-b border-slate-200 text-left text-xs text-slate-500 dark:border-slate-700">
                  <th scope="col" className="px-2 py-2 font-medium">{t("이벤트", "Event")}</th>
                  <th scope="col" className="px-2 py-2 font-medium">{t("파일명", "File")}</th>
                  <th scope="col" className="px-2 py-2 font-medium">{t("카탈로그", "Catalog")}</th>
                  <th scope="col" className="px-2 py-2 font-medium">{t("시간", "Time")}</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((h) => (
                  <tr key={h.id} data-testid="history-row" data-event={h.event} className="border-b border-slate-100 dark:border-slate-800">
                    <td className="px-2 py-2">
                      <Badge tone={tone[h.event] ?? "slate"}>
                        <Glyph of={eventIcon[h.event] ?? "📋"} /> {eventLabel(h.event, t)}
                      </Badge>
                    </td>
                    <td className="px-2 py-2">
                      <div className="truncate font-medium" title={h.path} data-testid="history-path">
                        {h.path.split("/").pop()}
                      </div>
                      <div className="truncate text-xs text-slate-500" title={h.path}>
                        {h.old_path ? `${h.old_path} → ${h.path}` : h.path}
                        {h.target_id !== null && ` · ID ${h.target_id}`}
                      </div>
                    </td>
                    <td className="px-2 py-2 text-slate-600 dark:text-slate-300">{h.catalog}</td>
                    <td className="px-2 py-2 text-slate-600 dark:text-slate-300" title={formatDateTime(h.time)}>
                      {relativeTime(h.time, now, lang)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav aria-label={t("페이지", "Pages")} className="mt-3 flex flex-wrap items-center gap-1 text-sm">
            <Button size="sm" variant="ghost" disabled={page <= 1} onClick={() => set({ page: page - 1 })} aria-label={t("이전 페이지", "Previous page")}>
              ‹
            </Button>
            {pageWindow(page, pages).map((n, i) =>
              n === null ? (
                <span key={`g${i}`} className="px-1 text-slate-400">…</span>
              ) : (
                <button
                  key={n}
                  type="button"
                  aria-current={n === page ? "page" : undefined}
                  onClick={() => set({ page: n })}
                  className={cx("tabular min-w-8 rounded-md px-2 py-1", n === page ? "bg-blue-600 text-white" : "hover:bg-slate-100 dark:hover:bg-slate-800")}
                >
                  {n}
                </button>
              ),
            )}
            <Button size="sm" variant="ghost" disabled={page >= pages} onClick={() => set({ page: page + 1 })} aria-label={t("다음 페이지", "Next page")}>
              ›
            </Button>
            <span className="ml-auto text-xs text-slate-500">
              <span data-testid="history-total" data-value={total}>
                {t(`총 ${formatNumber(total, lang)}건`, `${formatNumber(total, lang)} changes`)}
              </span>
            </span>
          </nav>
        </>
      )}
    </Card>
  );
}
