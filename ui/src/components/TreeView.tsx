import {
  createContext,
  useContext,
  useEffect,
  useMemo,
  useState,
  type Dispatch,
  type SetStateAction,
} from "react";
import { Tree, type NodeRendererProps } from "react-arborist";
import type { TreeFile, TreeNode, TreeNodeDir } from "../api";
import { needsSetup } from "../api";
import { formatBytes, formatNumber } from "../format";
import { statusIcon, statusLabel, useLang } from "../i18n";
import { useTreeNode, useTreeNodes } from "../state/queries";
import { navigate } from "../state/router";
import { ErrorPanel } from "./ErrorPanel";
import { Onboarding } from "./Onboarding";
import { Card, Loading, Spinner, cx } from "./ui";
import { Glyph } from "./Glyph";

/** Files per request for one directory; "더 보기" adds another page up to the server's maximum. */
export const NODE_PAGE = 500;
const NODE_MAX = 5000;
const ROW = 34;

type Counts = Omit<TreeNodeDir, "name" | "path">;

export type Row =
  | { id: string; kind: "dir"; name: string; path: string; counts: Counts; children: Row[] }
  | { id: string; kind: "file"; name: string; file: TreeFile }
  | { id: string; kind: "more"; name: string; path: string; left: number }
  | { id: string; kind: "loading"; name: string }
  | { id: string; kind: "error"; name: string };

/**
 * The rows under `path` from the directories loaded so far. A directory not loaded yet has no
 * rows (it can still be opened: react-arborist treats an array as a folder).
 */
export function buildRows(
  path: string,
  loaded: Map<string, TreeNode>,
  pending: Set<string>,
  failed: Set<string>,
): Row[] {
  const node = loaded.get(path);
  if (!node) {
    if (failed.has(path)) return [{ id: `${path}\u0000error`, kind: "error", name: "" }];
    return pending.has(path) ? [{ id: `${path}\u0000loading`, kind: "loading", name: "" }] : [];
  }
  const rows: Row[] = node.directories.map((d) => ({
    id: `d:${d.path}`,
    kind: "dir" as const,
    name: d.name,
    path: d.path,
    counts: d,
    children: buildRows(d.path, loaded, pending, failed),
  }));
  for (const f of node.files) {
    rows.push({ id: `f:${path}/${f.name}`, kind: "file", name: f.name, file: f });
  }
  const left = node.files_total - node.files.length;
  if (left > 0) rows.push({ id: `m:${path}`, kind: "more", name: "", path, left });
  return rows;
}

function useWidth() {
  // A callback ref: the element appears only after the first answer (a spinner before it).
  const [el, ref] = useState<HTMLDivElement | null>(null);
  const [w, setW] = useState(800);
  useEffect(() => {
    if (!el) return;
    const ro = new ResizeObserver(() => setW(el.clientWidth));
    ro.observe(el);
    setW(el.clientWidth);
    return () => ro.disconnect();
  }, [el]);
  return { ref, w };
}

type TreeCtxValue = {
  limits: Record<string, number>;
  setLimits: Dispatch<SetStateAction<Record<string, number>>>;
};

const TreeCtx = createContext<TreeCtxValue>({ limits: {}, setLimits: () => {} });

function Node({ node, style }: NodeRendererProps<Row>) {
  const { t, lang } = useLang();
  const { limits, setLimits } = useContext(TreeCtx);
  const d = node.data;
  const pad = { paddingLeft: node.level * 18 } as const;
  if (d.kind === "loading")
    return (
      <div style={style} className="flex items-center text-xs text-slate-500">
        <span style={pad}>
          <Spinner label={t("불러오는 중…", "Loading…")} />
        </span>
      </div>
    );
  if (d.kind === "error")
    return (
      <div style={style} className="flex items-center text-xs text-red-600">
        <span style={pad}>{t("이 폴더를 불러오지 못했습니다", "This folder could not be loaded")}</span>
      </div>
    );
  if (d.kind === "more") {
    const cur = limits[d.path] ?? NODE_PAGE;
    return (
      <div style={style} className="flex items-center text-xs">
        <span style={pad}>
          {cur < NODE_MAX ? (
            <button
              type="button"
              data-testid="tree-more"
              className="text-blue-600 hover:underline"
              onClick={() => setLimits((l) => ({ ...l, [d.path]: Math.min(NODE_MAX, cur + NODE_PAGE) }))}
            >
              {t(`파일 ${formatNumber(d.left, lang)}개 더 보기`, `Show ${formatNumber(d.left, lang)} more files`)}
            </button>
          ) : (
            <button type="button" className="text-blue-600 hover:underline" onClick={() => navigate("matching", { search: `${d.path}/` })}>
              {t(`나머지 ${formatNumber(d.left, lang)}개는 테이블에서 보기`, `See the other ${formatNumber(d.left, lang)} in the table`)}
            </button>
          )}
        </span>
      </div>
    );
  }
  if (d.kind === "dir") {
    const c = d.counts;
    return (
      <div
        style={style}
        data-testid="tree-dir"
        data-path={d.path}
        data-open={node.isOpen}
        className={cx(
          "grid cursor-pointer grid-cols-[minmax(0,1fr)_9rem_9rem] items-center gap-2 border-b border-slate-100 pr-2 text-sm dark:border-slate-800",
          node.isFocused && "bg-blue-50 dark:bg-blue-950",
        )}
        onClick={() => node.toggle()}
      >
        <span style={pad} className="flex min-w-0 items-center gap-1.5">
          <span aria-hidden className="w-3 text-slate-400">{node.isOpen ? "▾" : "▸"}</span>
          <span aria-hidden><Glyph of="📂" /></span>
          <span className="truncate font-medium">{d.name}</span>
          <span className="shrink-0 text-xs text-slate-500">
            ({formatNumber(c.total_files, lang)} {t("파일", "files")})
          </span>
          <span className="hidden shrink-0 gap-1 text-xs lg:flex">
            {c.new > 0 && <span className="text-blue-600"><Glyph of="➕" />{c.new}</span>}
            {c.copying > 0 && <span className="text-amber-600"><Glyph of="⏳" />{c.copying}</span>}
            {c.changed > 0 && <span className="text-violet-600"><Glyph of="🔄" />{c.changed}</span>}
            {c.duplicates > 0 && <span className="text-amber-600"><Glyph of="⚠️" />{c.duplicates}</span>}
            {c.not_synced > 0 && <span className="text-slate-500"><Glyph of="❌" />{c.not_synced}</span>}
            {c.deleted > 0 && <span className="text-red-600"><Glyph of="🗑️" />{c.deleted}</span>}
          </span>
        </span>
        <span className="tabular text-right text-xs text-slate-600 dark:text-slate-300">
          {formatNumber(c.total_files, lang)} {t("개", "")}
        </span>
        <span
          className={cx(
            "tabular text-right text-xs",
            c.synced > 0 ? "text-emerald-700 dark:text-emerald-400" : "text-slate-400",
          )}
        >
          {c.synced > 0 ? <Glyph of="✅" className="mr-1 inline-block align-[-0.125em] text-emerald-600" /> : null}
          {formatNumber(c.synced, lang)} {t("동기화", "synced")}
        </span>
      </div>
    );
  }
  const f = d.file;
  const synced = f.status === "synced" || f.status === "synced_with_duplicates";
  return (
    <div
      style={style}
      data-testid="tree-file"
      data-status={f.status}
      className={cx(
        "grid grid-cols-[minmax(0,1fr)_9rem_9rem] items-center gap-2 border-b border-slate-100 pr-2 text-sm dark:border-slate-800",
        node.isFocused && "bg-blue-50 dark:bg-blue-950",
      )}
      title={f.reason}
    >
      <span style={pad} className="flex min-w-0 items-center gap-1.5">
        <span className="w-3" />
        <span aria-hidden><Glyph of="📄" /></span>
        <span className="truncate">{f.name}</span>
        {f.status === "duplicate" && (
          <span className="shrink-0 text-xs text-amber-600"><Glyph of="⚠️" />{t("중복", "duplicate")}</span>
        )}
      </span>
      <span className="tabular text-right text-xs">
        {f.source_id !== null ? <><Glyph of="✅" /> {formatBytes(f.size_bytes)}</> : <span className="text-slate-400">{t("NAS에 없음", "not on NAS")}</span>}
      </span>
      <span className="tabular truncate text-right text-xs" title={f.reason}>
        {synced && f.target_id !== null ? (
          <span className="text-emerald-700 dark:text-emerald-400"><Glyph of="✅" /> ID:{f.target_id}</span>
        ) : (
          <span className="text-slate-500">
            <Glyph of={statusIcon[f.status]} /> {f.target_id !== null ? `ID:${f.target_id} ` : "-- "}
            {statusLabel(f.status, t)}
          </span>
        )}
      </span>
    </div>
  );
}


/** Rows on screen: the top level and the children of open folders. */
export function visibleRows(rows: Row[], expanded: Set<string>): number {
  let n = 0;
  for (const r of rows) {
    n++;
    if (r.kind === "dir" && expanded.has(r.id)) n += visibleRows(r.children, expanded);
  }
  return n;
}

export function TreeView() {
  const { t, lang } = useLang();
  // Folders ever opened (their answers stay loaded) and the ones open now (for the height).
  const [open, setOpen] = useState<string[]>([]);
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const [limits, setLimits] = useState<Record<string, number>>({});
  const root = useTreeNode({ path: "", limit: limits[""] ?? NODE_PAGE });
  const nodes = useTreeNodes(open.map((path) => ({ path, limit: limits[path] ?? NODE_PAGE })));
  const { ref, w } = useWidth();
  const data = useMemo(() => {
    const loaded = new Map<string, TreeNode>();
    const pending = new Set<string>();
    const failed = new Set<string>();
    if (root.data) loaded.set("", root.data);
    open.forEach((path, i) => {
      const n = nodes[i];
      if (n?.data) loaded.set(path, n.data);
      else if (n?.error) failed.add(path);
      else pending.add(path);
    });
    return buildRows("", loaded, pending, failed);
  }, [root.data, open, nodes]);

  if (root.error && needsSetup(root.error)) return <Onboarding />;
  if (root.error) return <ErrorPanel error={root.error} retry={() => void root.refetch()} />;
  if (!root.data) return <Loading />;
  const r = root.data;
  const height = Math.min(640, Math.max(ROW * 6, ROW * visibleRows(data, expanded) + 8));

  return (
    <Card>
      <div className="mb-2 flex flex-wrap items-center gap-x-4 gap-y-1 text-sm text-slate-600 dark:text-slate-300" data-testid="tree-summary">
        <span>
          {t("전체", "All")} <b className="tabular">{formatNumber(r.total_files, lang)}</b> {t("파일", "files")}
        </span>
        <span className="text-emerald-700"><Glyph of="✅" /> {formatNumber(r.synced, lang)}</span>
        <span className="text-blue-700"><Glyph of="➕" /> {formatNumber(r.new, lang)}</span>
        <span className="text-amber-700"><Glyph of="⚠️" /> {formatNumber(r.duplicates, lang)}</span>
        <span><Glyph of="❌" /> {formatNumber(r.not_synced, lang)}</span>
        {r.deleted > 0 && <span className="text-red-700"><Glyph of="🗑️" /> {formatNumber(r.deleted, lang)}</span>}
      </div>
      <div className="grid grid-cols-[minmax(0,1fr)_9rem_9rem] gap-2 border-b border-slate-200 pr-2 pb-1 text-xs font-medium text-slate-500 dark:border-slate-700">
        <span>{t("이름", "Name")}</span>
        <span className="text-right">Source</span>
        <span className="text-right">→ Target</span>
      </div>
      <div ref={ref} data-testid="tree">
        <TreeCtx.Provider value={{ limits, setLimits }}>
        <Tree<Row>
          data={data}
          width={w}
          height={height}
          rowHeight={ROW}
          indent={0}
          openByDefault={false}
          disableDrag
          disableDrop
          disableEdit
          disableMultiSelection
          onToggle={(id) => {
            if (!id.startsWith("d:")) return;
            const path = id.slice(2);
            setOpen((o) => (o.includes(path) ? o : [...o, path]));
            setExpanded((e) => {
              const n = new Set(e);
              if (n.has(id)) n.delete(id);
              else n.add(id);
              return n;
            });
          }}
        >
          {Node}
        </Tree>
        </TreeCtx.Provider>
      </div>
    </Card>
  );
}
