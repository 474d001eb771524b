import { describe, expect, it } from "vitest";
import type { ReconcileReport } from "../api";
import { reportRows } from "./dashboard/DriftReport";
import { zoneLabel } from "./ExportDialog";
import { historyFilters } from "./History";
import { matchingFilters, readParams } from "./Matching";

const ko = (k: string) => k;
const en = (_: string, e: string) => e;

describe("the export dialog's words for the filters", () => {
  it("names the matching table's filters and a sort other than the default", () => {
    const p = readParams(new URLSearchParams("status=new&catalog=WSOP&search=Day1&sort=size&desc=1&page=4"));
    expect(matchingFilters(p, ko)).toEqual(["상태: 신규", "카탈로그: WSOP", '검색: "Day1"', "정렬: 크기 내림차순"]);
    expect(matchingFilters(p, en)).toEqual(["Status: New", "Catalog: WSOP", 'Search: "Day1"', "Sort: size descending"]);
    expect(matchingFilters(readParams(new URLSearchParams("page=9")), ko)).toEqual([]);
  });
  it("names the history's filters", () => {
    expect(historyFilters({ event: "moved", catalog: "", since: "2026-12-01", search: "한글" }, ko)).toEqual([
      "이벤트: 이동",
      "이후: 2026-12-01",
      '검색: "한글"',
    ]);
    expect(historyFilters({ event: "", catalog: "", since: "", search: "" }, ko)).toEqual([]);
  });
});

describe("reportRows", () => {
  const section = <T>(count: number, items: T[]) => ({ count, items });
  const report = {
    in_sync: false,
    share_files: 3,
    archive_files: 3,
    target_active: 3,
    on_share_not_in_archive: section(1, ["a"]),
    in_archive_not_on_share: section(0, []),
    modified_on_share: section(0, []),
    moved_on_share: section(0, []),
    would_insert: section(1500, ["a", "b"]),
    would_update: section(0, []),
    would_move: section(1, [{ from: "x", to: "y" }]),
    would_restore: section(0, []),
    would_delete: section(0, []),
    target_paths_missing: section(0, []),
    needs_transcode: section(0, []),
    warnings: [{ path: "d", kind: "unreadable_dir", message: "m" }],
    duration_ms: 1,
  } as ReconcileReport;
  it("counts one row per listed finding and says when a section lists only part", () => {
    expect(reportRows(report)).toEqual({ rows: 5, partial: true });
    expect(reportRows({ ...report, would_insert: section(2, ["a", "b"]) })).toEqual({ rows: 5, partial: false });
  });
});

describe("zoneLabel", () => {
  it("names the offset as the CSV header does", () => {
    const at = (minutesWest: number) => ({ getTimezoneOffset: () => minutesWest }) as Date;
    expect(zoneLabel(at(-540))).toBe("UTC+09:00");
    expect(zoneLabel(at(300))).toBe("UTC-05:00");
    expect(zoneLabel(at(-330))).toBe("UTC+05:30");
    expect(zoneLabel(at(0))).toBe("UTC+00:00");
  });
});
