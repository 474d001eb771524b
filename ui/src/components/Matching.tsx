import {
  createColumnHelper,
  flexRender,
  getCoreRowModel,
  useReactTable,
  type SortingState,
} from "@tanstack/react-table";
import { Fragment, useEffect, useId, useMemo, useState } from "react";
import type { FacetCount, MatchItem, MatchStatus, MatchingFacets, MatchingPage } from "../api";
import { needsSetup, type MatchingParams } from "../api";
import { formatBytes, formatNumber, formatResolution, pageWindow } from "../format";
import { collisionHelp, collisionLabel, reasonLabel, statusIcon, statusLabel, useLang, type T } from "../i18n";
import { useDashboard, useMatching, useMatchingFacets } from "../state/queries";
import { navigate, useLocation } from "../state/router";
import { ErrorPanel } from "./ErrorPanel";
import { ExportButton } from "./ExportDialog";
import { Onboarding } from "./Onboarding";
import { TreeView } from "./TreeView";
import { Badge, Button, Card, EmptyState, Loading, Spinner, cx, fieldClass, type Tone } from "./ui";
import { Glyph } from "./Glyph";
import { OpenFolder } from "./OpenFolder";

export const PER_PAGE = 20;

const TABS: ("" | MatchStatus)[] = [
  "",
  "synced",
  "synced_with_duplicates",
  "new",
  "copying",
  "changed",
  "deleted",
  "duplicate",
  "not_synced",
];

export const statusTone: Record<MatchStatus, Tone> = {
  synced: "green",
  synced_with_duplicates: "green",
  new: "blue",
  copying: "amber",
  changed: "violet",
  deleted: "red",
  duplicate: "amber",
  not_synced: "slate",
};

const SORTABLE: Record<string, string> = { status: "status", source: "path", size: "size", catalog: "catalog" };

/** The table's state, from and to the address bar. */
export function readParams(p: URLSearchParams) {
  const page = Math.max(1, Number(p.get("page")) || 1);
  return {
    view: p.get("view") === "tree" ? ("tree" as const) : ("table" as const),
    status: p.get("status") ?? "",
    catalog: p.get("catalog") ?? "",
    search: p.get("search") ?? "",
    // The value filters: 제외 사유, 확장자, 코덱, 같은 이름·다른 크기.
    reason: p.get("reason") ?? "",
    ext: p.get("ext") ?? "",
    codec: p.get("codec") ?? "",
    collision: p.get("collision") === "1",
    sort: p.get("sort") ?? "path",
    desc: p.get("desc") === "1",
    page,
  };
}

type Params = ReturnType<typeof readParams>;

function write(p: Params, replace = false) {
  navigate(
    "matching",
    {
      view: p.view === "tree" ? "tree" : null,
      status: p.status,
      catalog: p.catalog,
      search: p.search,
      reason: p.reason,
      ext: p.ext,
      codec: p.codec,
      collision: p.collision ? "1" : null,
      sort: p.sort === "path" ? null : p.sort,
      desc: p.desc ? "1" : null,
      page: p.page > 1 ? p.page : null,
    },
    replace,
  );
}

export function Matching() {
  const { params } = useLocation();
  const p = readParams(params);
  const { t } = useLang();
  return (
    <div className="flex flex-col gap-4" data-testid="matching">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <h2 className="text-lg font-semibold">
          <Glyph of="🗂️" /> {p.view === "tree" ? t("카탈로그 트리 뷰", "Catalog tree") : t("1:1 파일 매칭 현황", "1:1 file matching")}
        </h2>
        <div role="group" aria-label={t("보기 방식", "View")} className="inline-flex rounded-lg border border-slate-300 p-0.5 dark:border-slate-700">
          {(["table", "tree"] as const).map((v) => (
            <button
              key={v}
              type="button"
              data-testid={`toggle-${v}`}
              aria-pressed={p.view === v}
              onClick={() => write({ ...p, view: v, page: 1 })}
              className={cx(
                "rounded-md px-3 py-1 text-sm font-medium",
                p.view === v ? "bg-blue-600 text-white" : "text-slate-600 dark:text-slate-300",
              )}
            >
              {v === "table" ? t("테이블", "Table") : t("트리", "Tree")}
              {p.view === v && " ✓"}
            </button>
          ))}
        </div>
      </div>
      {p.view === "tree" ? <TreeView /> : <MatchingTable p={p} />}
    </div>
  );
}

function MatchingTable({ p }: { p: Params }) {
  const { t, lang } = useLang();
  const query: MatchingParams = {
    // From the address bar as typed: the server checks them (a wrong value is a field message).
    status: (p.status || undefined) as MatchingParams["status"],
    catalog: p.catalog || undefined,
    search: p.search || undefined,
    reason: (p.reason || undefined) as MatchingParams["reason"],
    ext: p.ext || undefined,
    codec: p.codec || undefined,
    collision: p.collision || undefined,
    sort: p.sort as MatchingParams["sort"],
    desc: p.desc,
    page: p.page,
    per_page: PER_PAGE,
  };
  const q = useMatching(query);
  const dash = useDashboard();
  const facets = useMatchingFacets();
  const catalogs = dash.data?.catalogs.map((c) => c.id).sort((a, b) => a.localeCompare(b)) ?? [];
  const [search, setSearch] = useState(p.search);
  useEffect(() => setSearch(p.search), [p.search]);
  // Typing updates the address (and the query) after a short pause.
  useEffect(() => {
    if (search === p.search) return;
    const h = setTimeout(() => write({ ...p, search, page: 1 }, true), 300);
    return () => clearTimeout(h);
  }, [search, p]);

  if (q.error && needsSetup(q.error)) return <Onboarding />;
  const data = q.data;
  const summary = data?.summary;
  const allCount = summary ? Object.values(summary.by_status).reduce((a, b) => a + b, 0) : null;
  return (
    <Card>
      <div className="flex flex-col gap-3">
        <div role="tablist" aria-label={t("상태 필터", "Status filter")} className="flex gap-1 overflow-x-auto pb-1">
          {TABS.map((s) => {
            const n = s === "" ? allCount : (summary?.by_status[s] ?? null);
            const active = p.status === s;
            return (
              <button
                key={s || "all"}
                role="tab"
                type="button"
                aria-selected={active}
                data-testid={`tab-${s || "all"}`}
                data-count={n ?? undefined}
                onClick={() => write({ ...p, status: s, page: 1 })}
                className={cx(
                  "flex items-center gap-1.5 rounded-lg px-3 py-1.5 text-sm whitespace-nowrap",
                  active
                    ? "bg-slate-900 text-white dark:bg-slate-100 dark:text-slate-900"
                    : "text-slate-600 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800",
                )}
              >
                {s ? <><Glyph of={statusIcon[s]} /> {statusLabel(s, t)}</> : t("전체", "All")}
                <span className={cx("tabular rounded px-1 text-xs", active ? "bg-white/20" : "bg-slate-100 dark:bg-slate-800")}>
                  {n === null ? "…" : formatNumber(n, lang)}
                </span>
              </button>
            );
          })}
        </div>
        <div className="flex flex-wrap gap-2">
          <label className="sr-only" htmlFor="m-search">
            {t("검색", "Search")}
          </label>
          <input
            id="m-search"
            data-testid="search"
            type="search"
            className={cx(fieldClass, "w-full max-w-sm flex-1")}
            placeholder={t("경로 검색 (예: WSOP/2024)", "Search paths (e.g. WSOP/2024)")}
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
          <label className="sr-only" htmlFor="m-catalog">
            {t("카탈로그", "Catalog")}
          </label>
          <select
            id="m-catalog"
            data-testid="catalog-filter"
            className={fieldClass}
            value={p.catalog}
            onChange={(e) => write({ ...p, catalog: e.target.value, page: 1 })}
          >
            <option value="">{t("모든 카탈로그", "All catalogs")}</option>
            {catalogs.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
          {q.isFetching && <Spinner />}
          <div className="ml-auto">
            <ExportButton
              testId="matching-export"
              disabled={!data}
              spec={{
                what: t("1:1 파일 매칭 현황 — 모든 페이지", "1:1 file matching — every page"),
                filters: matchingFilters(p, t),
                rows: data?.total ?? null,
                // The table's query as it is (every filter it has), all pages.
                request: (lang) => ({ kind: "matching", query: { ...query, page: undefined, per_page: undefined }, lang }),
              }}
            />
          </div>
        </div>
        <ValueFilters p={p} facets={facets.data} />
        {q.error && !data ? (
          <ErrorPanel error={q.error} retry={() => void q.refetch()} />
        ) : !data ? (
          <Loading />
        ) : data.items.length === 0 ? (
          <EmptyState
            testId="matching-empty"
            icon={<Glyph of="🔎" />}
            title={t("조건에 맞는 파일이 없습니다", "No files match")}
            action={
              (p.status || p.catalog || p.search || filtered(p)) && (
                <Button onClick={() => write({ ...p, ...NO_FILTERS, status: "", catalog: "", search: "", page: 1 })}>
                  {t("필터 지우기", "Clear filters")}
                </Button>
              )
            }
          >
            {p.search && t(`"${p.search}" 검색 결과가 없습니다.`, `Nothing found for "${p.search}".`)}
          </EmptyState>
        ) : (
          <>
            <Table data={data} p={p} t={t} />
            <Pager data={data} p={p} />
          </>
        )}
      </div>
    </Card>
  );
}

const SORT_NAMES: Record<string, [string, string]> = {
  path: ["경로", "path"],
  size: ["크기", "size"],
  mtime: ["수정 시각", "modified"],
  catalog: ["카탈로그", "catalog"],
  status: ["상태", "status"],
};

/** The table's filters and sort in words, for the export dialog. */
export function matchingFilters(p: Params, t: T): string[] {
  const out: string[] = [];
  if (p.status) out.push(`${t("상태", "Status")}: ${statusLabel(p.status as MatchStatus, t) ?? p.status}`);
  if (p.catalog) out.push(`${t("카탈로그", "Catalog")}: ${p.catalog}`);
  if (p.search) out.push(`${t("검색", "Search")}: "${p.search}"`);
  if (p.reason) out.push(`${t("제외 사유", "Exclusion reason")}: ${reasonLabel(p.reason, t)}`);
  if (p.ext) out.push(`${t("확장자", "Extension")}: .${p.ext}`);
  if (p.codec) out.push(`${t("코덱", "Codec")}: ${p.codec}`);
  if (p.collision) out.push(collisionLabel(t));
  if (p.sort !== "path" || p.desc) {
    const [ko, en] = SORT_NAMES[p.sort] ?? [p.sort, p.sort];
    out.push(`${t("정렬", "Sort")}: ${t(ko, en)} ${p.desc ? t("내림차순", "descending") : t("오름차순", "ascending")}`);
  }
  return out;
}

const NO_FILTERS = { reason: "", ext: "", codec: "", collision: false };

/** Whether a value filter (reason, extension, codec, collision) is set. */
const filtered = (p: Params) => Boolean(p.reason || p.ext || p.codec || p.collision);

/** A filter's options from the facets, plus the current value when the list lacks it (a value
 * typed in the address, or one that the last sync made disappear). */
function options(list: FacetCount[] | undefined, current: string): FacetCount[] {
  const all = list ?? [];
  return current && !all.some((f) => f.value === current) ? [...all, { value: current, count: 0 }] : all;
}

/** 제외 사유, 확장자, 코덱 and 같은 이름·다른 크기: the values come from the facets, with their
 * counts over the whole table. */
function ValueFilters({ p, facets }: { p: Params; facets: MatchingFacets | undefined }) {
  const { t, lang } = useLang();
  const n = (c: number) => formatNumber(c, lang);
  const active = "border-blue-500 ring-2 ring-blue-500/20 dark:border-blue-400";
  const select = (
    id: string,
    label: string,
    all: string,
    value: string,
    list: FacetCount[],
    show: (v: string) => string,
    set: (v: string) => void,
  ) => (
    <label className="flex items-center gap-1.5 text-xs text-slate-500 dark:text-slate-400">
      <span>{label}</span>
      <select
        data-testid={id}
        className={cx(fieldClass, "py-1.5", value && active)}
        value={value}
        onChange={(e) => set(e.target.value)}
      >
        <option value="">{all}</option>
        {list.map((f) => (
          <option key={f.value} value={f.value} disabled={f.count === 0 && f.value !== value}>
            {show(f.value)} ({n(f.count)})
          </option>
        ))}
      </select>
    </label>
  );
  const collisions = facets?.name_collisions ?? null;
  return (
    <div className="flex flex-wrap items-center gap-x-3 gap-y-2" role="group" aria-label={t("필터", "Filters")} data-testid="value-filters">
      {select(
        "reason-filter",
        t("제외 사유", "Exclusion reason"),
        t("전체", "All"),
        p.reason,
        options(facets?.reasons, p.reason),
        (v) => reasonLabel(v, t),
        (v) => write({ ...p, reason: v, page: 1 }),
      )}
      {select(
        "ext-filter",
        t("확장자", "Extension"),
        t("전체", "All"),
        p.ext,
        options(facets?.extensions, p.ext),
        (v) => `.${v}`,
        (v) => write({ ...p, ext: v, page: 1 }),
      )}
      {select(
        "codec-filter",
        t("코덱", "Codec"),
        t("전체", "All"),
        p.codec,
        options(facets?.codecs, p.codec),
        (v) => v,
        (v) => write({ ...p, codec: v, page: 1 }),
      )}
      <button
        type="button"
        data-testid="collision-filter"
        aria-pressed={p.collision}
        title={collisionHelp(t)}
        onClick={() => write({ ...p, collision: !p.collision, page: 1 })}
        className={cx(
          "flex items-center gap-1.5 rounded-lg border px-3 py-1.5 text-sm",
          p.collision
            ? "border-amber-500 bg-amber-100 font-medium text-amber-900 dark:border-amber-400 dark:bg-amber-950 dark:text-amber-100"
            : "border-slate-300 text-slate-600 hover:bg-slate-100 dark:border-slate-700 dark:text-slate-300 dark:hover:bg-slate-800",
        )}
      >
        <Glyph of="⚠️" /> {collisionLabel(t)}
        <span className="tabular rounded bg-white/60 px-1 text-xs dark:bg-black/20" data-testid="collision-filter-count">
          {collisions === null ? "…" : n(collisions)}
        </span>
      </button>
      {filtered(p) && (
        <Button size="sm" variant="ghost" data-testid="clear-value-filters" onClick={() => write({ ...p, ...NO_FILTERS, page: 1 })}>
          {t("필터 지우기", "Clear filters")}
        </Button>
      )}
    </div>
  );
}

/** The row's 같은 이름·다른 크기 flag; its tooltip (on hover or focus) says it is a name
 * collision, not a copy. The tooltip is placed in the viewport (`fixed`), so the table's
 * scrolling box does not cut it off. */
function CollisionFlag() {
  const { t } = useLang();
  const [at, setAt] = useState<{ left: number; top: number } | null>(null);
  const show = (e: { currentTarget: HTMLElement }) => {
    const r = e.currentTarget.getBoundingClientRect();
    setAt({ left: Math.max(8, Math.min(r.left, window.innerWidth - 340)), top: r.bottom + 4 });
  };
  const hide = () => setAt(null);
  const id = useId();
  return (
    <span
      data-testid="collision-flag"
      tabIndex={0}
      aria-describedby={id}
      onMouseEnter={show}
      onMouseLeave={hide}
      onFocus={show}
      onBlur={hide}
      className="inline-flex cursor-help items-center gap-1 rounded-md bg-amber-100 px-1.5 py-0.5 text-xs font-medium whitespace-nowrap text-amber-900 ring-1 ring-amber-300 ring-inset dark:bg-amber-950 dark:text-amber-200 dark:ring-amber-800"
    >
      <Glyph of="⚠️" /> {collisionLabel(t)}
      <span
        id={id}
        role="tooltip"
        data-testid="collision-tooltip"
        hidden={at === null}
        style={at ?? undefined}
        className="fixed z-30 w-80 rounded-lg border border-slate-200 bg-white p-3 text-xs leading-relaxed font-normal whitespace-normal text-slate-700 shadow-lg dark:border-slate-700 dark:bg-slate-900 dark:text-slate-200"
      >
        {collisionHelp(t)}
      </span>
    </span>
  );
}

const col = createColumnHelper<MatchItem>();

/** Copies a path to the clipboard (to paste into Explorer's address bar or a message). */
function CopyPath({ path }: { path: string }) {
  const { t } = useLang();
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      data-testid="copy-path"
      title={copied ? t("복사됨", "Copied") : t("경로 복사", "Copy path")}
      aria-label={t("경로 복사", "Copy path")}
      onClick={() =>
        void navigator.clipboard?.writeText(path).then(
          () => setCopied(true),
          () => setCopied(false),
        )
      }
      className="shrink-0 rounded px-1 text-xs text-slate-400 opacity-0 group-hover:opacity-100 hover:text-blue-600 focus:opacity-100"
    >
      {copied ? t("복사됨", "Copied") : <Glyph of="📎" />}
    </button>
  );
}

export function Table({ data, p, t }: { data: MatchingPage; p: Params; t: T }) {
  const [open, setOpen] = useState<Set<string>>(new Set());
  const columns = useMemo(
    () => [
      col.accessor("status", { id: "status", header: t("상태", "Status") }),
      col.accessor((r) => r.source?.path ?? "", { id: "source", header: () => <><Glyph of="📂" /> {t("NAS 아카이브 (원본)", "NAS archive (Source)")}</> }),
      col.accessor((r) => r.target?.nas_path ?? "", { id: "target", header: () => <><Glyph of="📺" /> {t("OTT 플랫폼 (대상)", "OTT platform (Target)")}</>, enableSorting: false }),
      col.accessor((r) => r.source?.size_bytes ?? r.target?.size_bytes ?? 0, { id: "size", header: t("크기", "Size") }),
      col.accessor((r) => r.target?.id ?? null, { id: "id", header: "ID", enableSorting: false }),
    ],
    [t],
  );
  const sorting: SortingState = [
    { id: Object.entries(SORTABLE).find(([, v]) => v === p.sort)?.[0] ?? "source", desc: p.desc },
  ];
  const table = useReactTable({
    data: data.items,
    columns,
    getCoreRowModel: getCoreRowModel(),
    manualSorting: true,
    manualPagination: true,
    state: { sorting },
    onSortingChange: (up) => {
      const next = typeof up === "function" ? up(sorting) : up;
      const s = next[0];
      const cur = sorting[0];
      // Asc → desc → asc: the server always sorts, ties in path order.
      const id = s?.id ?? cur.id;
      const desc = id === cur.id ? !cur.desc : false;
      write({ ...p, sort: SORTABLE[id] ?? "path", desc, page: 1 });
    },
    getRowId: (r, i) => `${r.source?.id ?? "t"}-${r.target?.id ?? "s"}-${i}`,
  });
  return (
    <div className="overflow-x-auto">
      <table className="w-full min-w-[56rem] table-fixed border-collapse text-sm" data-testid="matching-table">
        <colgroup>
          <col className="w-36" />
          <col />
          <col />
          <col className="w-24" />
          <col className="w-16" />
        </colgroup>
        <thead>
          {table.getHeaderGroups().map((hg) => (
            <tr key={hg.id} className="border-b border-slate-200 text-left text-xs text-slate-500 dark:border-slate-700">
              {hg.headers.map((h) => {
                const sortable = h.column.id in SORTABLE;
                const dir = sorting[0].id === h.column.id ? (sorting[0].desc ? "descending" : "ascending") : "none";
                return (
                  <th key={h.id} scope="col" aria-sort={sortable ? dir : undefined} className="px-2 py-2 font-medium">
                    {sortable ? (
                      <button
                        type="button"
                        data-testid={`sort-${h.column.id}`}
                        onClick={h.column.getToggleSortingHandler()}
                        className="inline-flex items-center gap-1 hover:text-slate-900 dark:hover:text-slate-100"
                      >
                        {flexRender(h.column.columnDef.header, h.getContext())}
                        <span aria-hidden>{dir === "ascending" ? "▲" : dir === "descending" ? "▼" : "↕"}</span>
                      </button>
                    ) : (
                      flexRender(h.column.columnDef.header, h.getContext())
                    )}
                  </th>
                );
              })}
            </tr>
          ))}
        </thead>
        <tbody>
          {table.getRowModel().rows.map((row) => {
            const r = row.original;
            const expanded = open.has(row.id);
            return (
              <Fragment key={row.id}>
                <tr data-testid="matching-row" data-status={r.status} className="border-b border-slate-100 align-top dark:border-slate-800">
                  <td className="px-2 py-2">
                    <Badge tone={statusTone[r.status]}>
                      <Glyph of={statusIcon[r.status]} />
                      {statusLabel(r.status, t)}
                      {r.status === "copying" && r.source && (
                        <span className="tabular" data-testid="copying-size">
                          · {formatBytes(r.source.size_bytes)}
                        </span>
                      )}
                    </Badge>
                  </td>
                  <td className="px-2 py-2">
                    {r.source ? (
                      <>
                        <div className="group flex items-center gap-1">
                          <div className="truncate font-medium" title={r.source.path} data-testid="source-path">
                            {r.source.path}
                          </div>
                          <CopyPath path={r.source.path} />
                          <OpenFolder path={r.source.path} compact />
                        </div>
                        <div className="mt-0.5 flex flex-wrap gap-x-2 text-xs text-slate-500">
                          <span><Glyph of="📁" /> {formatBytes(r.source.size_bytes)}</span>
                          {r.source.codec && <span>{r.source.codec}</span>}
                          {formatResolution(r.source.resolution) && (
                            <span title={r.source.resolution ?? ""}>{formatResolution(r.source.resolution)}</span>
                          )}
                        </div>
                        {r.name_collision && (
                          <div className="mt-1">
                            <CollisionFlag />
                          </div>
                        )}
                      </>
                    ) : (
                      <span className="text-xs text-slate-400">{t("(NAS에 없음)", "(not on the NAS)")}</span>
                    )}
                    {r.duplicates.length > 0 && (
                      <button
                        type="button"
                        data-testid="dup-toggle"
                        aria-expanded={expanded}
                        onClick={() =>
                          setOpen((s) => {
                            const n = new Set(s);
                            if (n.has(row.id)) n.delete(row.id);
                            else n.add(row.id);
                            return n;
                          })
                        }
                        className="mt-1 text-xs font-medium text-amber-700 hover:underline dark:text-amber-300"
                      >
                        <Glyph of="⚠️" /> +{r.duplicates.length} {t("중복 경로", "duplicate paths")} {expanded ? "▴" : "▾"}
                      </button>
                    )}
                    {r.primary && (
                      <div className="mt-1 truncate text-xs text-amber-700 dark:text-amber-300" title={r.primary.path}>
                        {t("원본", "Synced copy")}: {r.primary.path}
                      </div>
                    )}
                  </td>
                  <td className="px-2 py-2">
                    {r.target ? (
                      <>
                        <div
                          className={cx("truncate", r.target.status === "deleted" && "text-slate-400 line-through")}
                          title={r.target.nas_path}
                        >
                          {r.target.nas_path}
                        </div>
                        <div className="mt-0.5 flex flex-wrap gap-x-2 text-xs text-slate-500">
                          <span><Glyph of="📁" /> {formatBytes(r.target.size_bytes)}</span>
                          {r.target.hls_compatible && <span className="text-emerald-600">{t("HLS 재생 가능", "HLS playable")}</span>}
                          {r.target.status === "deleted" && <span className="text-red-600">{t("삭제됨", "deleted")}</span>}
                        </div>
                      </>
                    ) : null}
                    {(r.status !== "synced" && r.status !== "synced_with_duplicates") || r.warning ? (
                      <div className="mt-0.5 text-xs text-slate-500 italic" data-testid="reason">
                        ({r.reason})
                        {r.warning && <span className="ml-1 text-amber-700 not-italic">⚠ {r.warning}</span>}
                      </div>
                    ) : null}
                  </td>
                  <td className="tabular px-2 py-2 text-xs text-slate-500">
                    {formatBytes(r.source?.size_bytes ?? r.target?.size_bytes)}
                  </td>
                  <td className="tabular px-2 py-2 font-mono text-xs" data-testid="target-id">
                    {r.target?.id ?? "--"}
                  </td>
                </tr>
                {expanded && (
                  <tr className="border-b border-slate-100 bg-amber-50/50 dark:border-slate-800 dark:bg-amber-950/30">
                    <td />
                    <td colSpan={4} className="px-2 py-2">
                      <ul className="flex flex-col gap-0.5 text-xs" data-testid="dup-list">
                        {r.duplicates.map((d) => (
                          <li key={d.id} className="truncate" title={d.path}>
                            ↳ {d.path} <span className="text-slate-400">({t("동기화 제외", "not synced")})</span>
                          </li>
                        ))}
                      </ul>
                    </td>
                  </tr>
                )}
              </Fragment>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function Pager({ data, p }: { data: MatchingPage; p: Params }) {
  const { t, lang } = useLang();
  const pages = Math.max(1, data.pages);
  const go = (n: number) => write({ ...p, page: n });
  return (
    <nav aria-label={t("페이지", "Pages")} className="flex flex-wrap items-center gap-1 text-sm" data-testid="pager">
      <Button size="sm" variant="ghost" disabled={p.page <= 1} onClick={() => go(p.page - 1)} aria-label={t("이전 페이지", "Previous page")}>
        ‹
      </Button>
      {pageWindow(p.page, pages).map((n, i) =>
        n === null ? (
          <span key={`gap-${i}`} className="px-1 text-slate-400">
            …
          </span>
        ) : (
          <button
            key={n}
            type="button"
            data-testid={`page-${n}`}
            aria-current={n === p.page ? "page" : undefined}
            onClick={() => go(n)}
            className={cx(
              "tabular min-w-8 rounded-md px-2 py-1",
              n === p.page ? "bg-blue-600 text-white" : "hover:bg-slate-100 dark:hover:bg-slate-800",
            )}
          >
            {n}
          </button>
        ),
      )}
      <Button size="sm" variant="ghost" disabled={p.page >= pages} onClick={() => go(p.page + 1)} aria-label={t("다음 페이지", "Next page")}>
        ›
      </Button>
      <span className="ml-auto text-xs text-slate-500" data-testid="matching-total" data-total={data.total}>
        {t(
          `총 ${formatNumber(data.total, lang)}건 · 페이지당 ${PER_PAGE}개`,
          `${formatNumber(data.total, lang)} items · ${PER_PAGE} per page`,
        )}
      </span>
    </nav>
  );
}
