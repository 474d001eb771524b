import { act, fireEvent, render, screen, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Config, JobInfo, MatchingPage, TreeNode } from "../api";
import { LangProvider } from "../i18n";
import { signInUrl } from "../App";
import { GuardPanel } from "./dashboard/GuardPanel";
import { Table } from "./Matching";
import { readParams } from "./Matching";
import { patchOf, toForm } from "./Settings";
import { buildRows } from "./TreeView";
import { Loading, SLOW_LOAD_MS } from "./ui";

const config: Config = {
  root: "\\\\10.10.100.122\\docker\\GGPNAs\\ARCHIVE",
  archive_db: null,
  target_db: "C:\\ott\\pokervod.db",
  interval_minutes: 30,
  hls_only: true,
  hls_extensions: ["mp4", "mov", "ts"],
  ignore: [],
  max_delete_percent: 10,
  max_delete_count: 20,
  marker_file: null,
  busy_timeout_secs: 30,
  scan_workers: 8,
  share_timeout_secs: 30,
  settle_secs: 60,
  delete_after_missing_scans: 1,
  probe_media: true,
  probe_workers: 4,
  probe_budget_secs: 60,
  ffprobe_path: null,
  strict_codec_check: false,
  tree_full_limit: 20000,
  notify_errors: true,
  notify_sync_summary: false,
  autostart: null,
  target_wal: false,
  no_admin_pin: false,
};

describe("settings form", () => {
  it("sends only the fields that changed, in the config's types", () => {
    const f = toForm(config);
    expect(patchOf(f, config)).toEqual({});
    const edited = { ...f, interval_minutes: "15", hls_extensions: "MP4, .mov  ts,m4v", ignore: "**/temp/**\n\n*.part", marker_file: "  " };
    expect(patchOf(edited, config)).toEqual({
      interval_minutes: 15,
      hls_extensions: ["mp4", "mov", "ts", "m4v"],
      ignore: ["**/temp/**", "*.part"],
    });
  });
  it("passes a number that does not parse through as typed, for the server to explain", () => {
    const edited = { ...toForm(config), max_delete_count: "many", root: "" };
    expect(patchOf(edited, config)).toEqual({ max_delete_count: "many", root: null });
  });
});

describe("matching URL state", () => {
  it("reads defaults and every parameter", () => {
    const none = { reason: "", ext: "", codec: "", collision: false };
    expect(readParams(new URLSearchParams(""))).toEqual({
      view: "table", status: "", catalog: "", search: "", sort: "path", desc: false, page: 1, ...none,
    });
    const p = readParams(new URLSearchParams("view=tree&status=new&catalog=WSOP&search=Day1&sort=size&desc=1&page=3"));
    expect(p).toEqual({ view: "tree", status: "new", catalog: "WSOP", search: "Day1", sort: "size", desc: true, page: 3, ...none });
    expect(readParams(new URLSearchParams("page=-4")).page).toBe(1);
  });
});

const counts = { total_files: 2, synced: 1, not_synced: 1, duplicates: 0, new: 0, copying: 0, changed: 0, deleted: 0 };

describe("tree rows", () => {
  const root: TreeNode = {
    path: "",
    ...counts,
    directories: [{ name: "WSOP", path: "WSOP", ...counts }],
    files: [
      { name: "readme.txt", source_id: 9, target_id: null, status: "not_synced", size_bytes: 10, reason: "영상 아님", reason_code: "not_video" },
    ],
    files_total: 3,
    offset: 0,
    limit: 1,
  };
  it("shows unloaded folders as openable, loading ones with a placeholder, and a 더 보기 row", () => {
    const rows = buildRows("", new Map([["", root]]), new Set(), new Set());
    expect(rows.map((r) => r.kind)).toEqual(["dir", "file", "more"]);
    expect(rows[0].kind === "dir" && rows[0].children).toEqual([]);
    expect(rows[2].kind === "more" && rows[2].left).toBe(2);
    const loading = buildRows("", new Map([["", root]]), new Set(["WSOP"]), new Set());
    expect(loading[0].kind === "dir" && loading[0].children.map((c) => c.kind)).toEqual(["loading"]);
    const failed = buildRows("", new Map([["", root]]), new Set(), new Set(["WSOP"]));
    expect(failed[0].kind === "dir" && failed[0].children.map((c) => c.kind)).toEqual(["error"]);
  });
});

const refused: JobInfo = {
  id: 7,
  kind: "sync",
  state: "refused",
  force: false,
  trigger: "manual",
  started_at: "2026-12-02T12:00:00Z",
  finished_at: "2026-12-02T12:00:01Z",
  progress: { phase: "done", files_seen: 10, dirs_seen: 2, files_per_sec: 0, eta_sec: null, elapsed_ms: 10 },
  error: null,
  result: {
    kind: "sync",
    added: 0, updated: 0, moved: 0, restored: 0, deleted: 92, skipped: 0, errors: [], dry_run: false,
    refused: { guard: "mass_delete", message: "over the limits" },
    duration_ms: 5, active_before: 228, scan: null, probe: null,
    held: 0, held_paths: [], settle_wait_secs: null,
    changes: [
      { event: "deleted", path: "HCL/EP001.mp4", old_path: null, target_id: 11 },
      { event: "deleted", path: "HCL/EP002.mp4", old_path: null, target_id: 12 },
    ],
  },
};

describe("mass-delete guard", () => {
  it("shows the numbers and applies only after review and confirmation", () => {
    const onForce = vi.fn();
    render(
      <LangProvider lang="ko">
        <GuardPanel job={refused} onForce={onForce} forcing={false} />
      </LangProvider>,
    );
    expect(screen.getByTestId("guard-numbers")).toHaveTextContent("228건 중 92건(40.4%)");
    fireEvent.click(screen.getByTestId("guard-review"));
    const list = screen.getByTestId("guard-delete-list");
    expect(within(list).getAllByRole("listitem")).toHaveLength(2);
    const force = screen.getByTestId("guard-force");
    expect(force).toBeDisabled();
    fireEvent.click(force);
    expect(onForce).not.toHaveBeenCalled();
    fireEvent.click(screen.getByTestId("guard-confirm"));
    expect(force).toBeEnabled();
    fireEvent.click(force);
    // The approval names the reviewed job and its deletions (the engine refuses more).
    expect(onForce).toHaveBeenCalledTimes(1);
    expect(onForce).toHaveBeenCalledWith({ refused_job: 7, deletions: 92 });
  });
});

describe("signing in", () => {
  const here = new URL("http://127.0.0.1:8787/matching?status=new");
  it("turns a pasted address or a bare token into this page with ?token=", () => {
    expect(signInUrl("http://127.0.0.1:8787/?token=abc%2Bdef", here)).toBe("/matching?status=new&token=abc%2Bdef");
    expect(signInUrl("  3f9a0c  ", here)).toBe("/matching?status=new&token=3f9a0c");
    expect(signInUrl("", here)).toBeNull();
    expect(signInUrl("two words", here)).toBeNull();
  });
});

describe("settings patch", () => {
  it("never sends ffprobe_path (file and command line only) and sends the no-PIN choice", () => {
    const form = { ...toForm(config), ffprobe_path: "/tmp/evil", no_admin_pin: true };
    const patch = patchOf(form, config);
    expect(patch).not.toHaveProperty("ffprobe_path");
    expect(patch).toEqual({ no_admin_pin: true });
  });
});

describe("matching table", () => {
  const page: MatchingPage = {
    total: 2, page: 1, per_page: 20, pages: 1,
    summary: { synced: 1, not_synced: 1, duplicates_excluded: 0, new: 0, copying: 0, changed: 0, deleted: 0, by_status: {} },
    items: [
      {
        status: "synced_with_duplicates", reason: "동기화됨", reason_code: "synced_with_duplicates", catalog: "HCL",
        source: { id: 5, path: "HCL/EP123.mp4", size_bytes: 897581056, mtime: 0, codec: "h264", resolution: "1280x720", duration_sec: 60 },
        target: { id: 85, nas_path: "HCL/EP123.mp4", size_bytes: 897581056, hls_compatible: true, status: "active" },
        duplicates: [{ id: 6, path: "HCL/Archive/EP123.mp4" }, { id: 7, path: "HCL/Backup/EP123.mp4" }],
        name_collision: false,
      },
      {
        status: "not_synced", reason: "HLS 비호환 (mxf)", reason_code: "not_hls", catalog: "PAD",
        source: { id: 100, path: "PAD/Special.mxf", size_bytes: 2684354560, mtime: 0, codec: "prores", resolution: "3840x2160", duration_sec: null },
        target: null, duplicates: [], name_collision: false,
      },
    ],
  };
  it("shows sizes, codecs, HLS 재생 가능, the reason of a non-synced row and expands +N 중복 경로", () => {
    render(
      <LangProvider lang="ko">
        <Table data={page} p={readParams(new URLSearchParams(""))} t={(ko) => ko} />
      </LangProvider>,
    );
    const rows = screen.getAllByTestId("matching-row");
    expect(rows[0]).toHaveTextContent("856 MB");
    expect(rows[0]).toHaveTextContent("720p");
    expect(rows[0]).toHaveTextContent("HLS 재생 가능");
    expect(within(rows[0]).getByTestId("target-id")).toHaveTextContent("85");
    expect(rows[1]).toHaveTextContent("(HLS 비호환 (mxf))");
    expect(rows[1]).toHaveTextContent("4K");
    expect(within(rows[1]).getByTestId("target-id")).toHaveTextContent("--");
    expect(screen.queryByTestId("dup-list")).toBeNull();
    fireEvent.click(screen.getByTestId("dup-toggle"));
    expect(screen.getByTestId("dup-list")).toHaveTextContent("HCL/Backup/EP123.mp4");
    expect(screen.getByTestId("dup-toggle")).toHaveTextContent("+2 중복 경로");
  });
});

describe("같은 이름, 다른 크기", () => {
  const page: MatchingPage = {
    total: 2, page: 1, per_page: 20, pages: 1,
    summary: { synced: 1, not_synced: 0, duplicates_excluded: 1, new: 0, copying: 0, changed: 0, deleted: 0, by_status: {} },
    items: [
      {
        status: "synced_with_duplicates", reason: "동기화됨", reason_code: "synced_with_duplicates", catalog: "WSOP",
        source: { id: 1, path: "WSOP/2024/Ladies Event/Part1.mp4", size_bytes: 1000, mtime: 0, codec: "h264", resolution: null, duration_sec: null },
        target: { id: 3, nas_path: "WSOP/2024/Ladies Event/Part1.mp4", size_bytes: 1000, hls_compatible: true, status: "active" },
        duplicates: [{ id: 2, path: "WSOP/2024/Main Event/Part1.mp4" }], name_collision: true,
      },
      {
        status: "duplicate", reason: "중복 파일명", reason_code: "duplicate_name", catalog: "HCL",
        source: { id: 4, path: "HCL/Backup/EP1.mp4", size_bytes: 500, mtime: 0, codec: "h264", resolution: null, duration_sec: null },
        target: null, duplicates: [], primary: { id: 5, path: "HCL/EP1.mp4" }, name_collision: false,
      },
    ],
  };
  it("flags a name collision on its row with a tooltip that says it is not a copy; a copy has no flag", () => {
    const { container } = render(
      <LangProvider lang="ko">
        <Table data={page} p={readParams(new URLSearchParams(""))} t={(ko) => ko} />
      </LangProvider>,
    );
    const rows = within(container).getAllByTestId("matching-row");
    const flag = within(rows[0]).getByTestId("collision-flag");
    expect(flag).toHaveTextContent("같은 이름·다른 크기");
    expect(within(rows[0]).queryByRole("tooltip")).toBeNull();
    fireEvent.mouseEnter(flag);
    expect(within(rows[0]).getByRole("tooltip")).toHaveTextContent("사본이 아니라 다른 영상일 수 있습니다");
    fireEvent.mouseLeave(flag);
    expect(within(rows[0]).queryByRole("tooltip")).toBeNull();
    expect(within(rows[1]).queryByTestId("collision-flag")).toBeNull();
  });
  it("reads the value filters from the address", () => {
    const p = readParams(new URLSearchParams("reason=mxf&ext=mp4&codec=hevc&collision=1"));
    expect([p.reason, p.ext, p.codec, p.collision]).toEqual(["mxf", "mp4", "hevc", true]);
    const none = readParams(new URLSearchParams("collision=0"));
    expect([none.reason, none.ext, none.codec, none.collision]).toEqual(["", "", "", false]);
  });
});

describe("loading state", () => {
  it("says why after a few seconds (the first load builds the match index)", () => {
    vi.useFakeTimers();
    try {
      render(
        <LangProvider>
          <Loading />
        </LangProvider>,
      );
      expect(screen.getByText("불러오는 중…")).toBeTruthy();
      expect(screen.queryByTestId("loading-slow")).toBeNull();
      act(() => vi.advanceTimersByTime(SLOW_LOAD_MS));
      expect(screen.getByTestId("loading-slow").textContent).toContain("파일 목록 색인");
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("a file still being copied", () => {
  const page: MatchingPage = {
    total: 1, page: 1, per_page: 20, pages: 1,
    summary: { synced: 0, not_synced: 0, duplicates_excluded: 0, new: 0, copying: 1, changed: 0, deleted: 0, by_status: { copying: 1 } },
    items: [
      {
        status: "copying", reason: "복사 중 (현재 512.0 MB) — 파일이 바뀌지 않으면 동기화됩니다", reason_code: "copying", catalog: "WSOP",
        source: { id: 9, path: "WSOP/2024/arriving.mp4", size_bytes: 536870912, mtime: 0, codec: null, resolution: null, duration_sec: null },
        target: null, duplicates: [], name_collision: false,
      },
    ],
  };
  it("shows the 복사 중 / Copying badge with its current size", () => {
    const ko = render(
      <LangProvider lang="ko">
        <Table data={page} p={readParams(new URLSearchParams(""))} t={(ko) => ko} />
      </LangProvider>,
    );
    const row = within(ko.container).getByTestId("matching-row");
    expect(row).toHaveAttribute("data-status", "copying");
    expect(row).toHaveTextContent("복사 중");
    expect(within(row).getByTestId("copying-size")).toHaveTextContent("512 MB");
    ko.unmount();
    const en = render(
      <LangProvider lang="en">
        <Table data={page} p={readParams(new URLSearchParams(""))} t={(_ko, en) => en} />
      </LangProvider>,
    );
    expect(within(en.container).getByTestId("matching-row")).toHaveTextContent("Copying");
  });
});
