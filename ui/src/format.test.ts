import { describe, expect, it } from "vitest";
import {
  fieldMessage,
  formatBytes,
  formatDuration,
  formatPercent,
  formatResolution,
  pageWindow,
  relativeTime,
  topCatalogs,
} from "./format";

describe("formatBytes", () => {
  it("uses binary units with one decimal below 100", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1024)).toBe("1.0 KB");
    expect(formatBytes(1288490188)).toBe("1.2 GB");
    expect(formatBytes(897581056)).toBe("856 MB");
    expect(formatBytes(null)).toBe("—");
  });
});

describe("relativeTime", () => {
  const now = Date.parse("2026-12-02T12:00:00Z");
  it("says 5분 전 in Korean and 5 minutes ago in English", () => {
    expect(relativeTime("2026-12-02T11:55:00Z", now, "ko")).toBe("5분 전");
    expect(relativeTime("2026-12-02T11:55:00Z", now, "en")).toBe("5 minutes ago");
  });
  it("covers seconds, hours, days and never", () => {
    expect(relativeTime("2026-12-02T11:59:50Z", now, "ko")).toBe("방금 전");
    expect(relativeTime("2026-12-02T10:00:00Z", now, "ko")).toBe("2시간 전");
    expect(relativeTime("2026-11-29T12:00:00Z", now, "ko")).toBe("3일 전");
    expect(relativeTime("2026-12-02T11:00:00Z", now, "en")).toBe("1 hour ago");
    expect(relativeTime(null, now, "ko")).toBe("없음");
  });
  it("reads a time slightly in the future (clock skew) as now", () => {
    expect(relativeTime("2026-12-02T12:00:20Z", now, "ko")).toBe("방금 전");
  });
});

describe("pageWindow", () => {
  it("shows first, last and the pages around the current one", () => {
    expect(pageWindow(1, 127)).toEqual([1, 2, 3, null, 127]);
    expect(pageWindow(50, 127)).toEqual([1, null, 48, 49, 50, 51, 52, null, 127]);
    expect(pageWindow(127, 127)).toEqual([1, null, 125, 126, 127]);
  });
  it("fills a gap of one page instead of an ellipsis", () => {
    expect(pageWindow(4, 10)).toEqual([1, 2, 3, 4, 5, 6, null, 10]);
    expect(pageWindow(1, 1)).toEqual([1]);
    expect(pageWindow(2, 3)).toEqual([1, 2, 3]);
  });
});

describe("topCatalogs", () => {
  it("keeps the top n by count and sums the rest as 기타", () => {
    const rows = topCatalogs(
      [
        { id: "PAD", count: 89 },
        { id: "WSOP", count: 1714 },
        { id: "HCL", count: 259 },
        { id: "A", count: 50 },
        { id: "B", count: 30 },
      ],
      3,
    );
    expect(rows).toEqual([
      { id: "WSOP", count: 1714, other: false },
      { id: "HCL", count: 259, other: false },
      { id: "PAD", count: 89, other: false },
      { id: "", count: 80, other: true },
    ]);
  });
  it("adds no 기타 row when everything fits", () => {
    expect(topCatalogs([{ id: "WSOP", count: 1 }], 6)).toHaveLength(1);
  });
});

describe("small formats", () => {
  it("names resolutions and percentages", () => {
    expect(formatResolution("1920x1080")).toBe("1080p");
    expect(formatResolution("3840x2160")).toBe("4K");
    expect(formatResolution("320x240")).toBe("320x240");
    expect(formatPercent(0.912)).toBe("91%");
    expect(formatPercent(0.004)).toBe("<1%");
    expect(formatDuration(65, "ko")).toBe("1분 5초");
    expect(formatDuration(3600, "en")).toBe("1 h");
    expect(formatDuration(0, "ko")).toBe("0초");
  });
});

describe("fieldMessage", () => {
  it("takes the language's half of a bilingual message", () => {
    const m = "OTT 카탈로그(pokervod.db) 경로를 입력하세요. / Enter the path of pokervod.db.";
    expect(fieldMessage(m, "ko")).toBe("OTT 카탈로그(pokervod.db) 경로를 입력하세요.");
    expect(fieldMessage(m, "en")).toBe("Enter the path of pokervod.db.");
  });
  it("says the engine's range checks in Korean, keeps them in English", () => {
    const m = "interval_minutes must be between 1 and 1440 (got 0)";
    expect(fieldMessage(m, "ko")).toBe("1–1440 사이의 값이어야 합니다 (입력값: 0)");
    expect(fieldMessage(m, "en")).toBe(m);
    expect(fieldMessage("something else", "ko")).toBe("something else");
  });
});

describe("inLang (the live log in the chosen language)", () => {
  it("shows the Korean or the English half of an engine line", async () => {
    const { inLang } = await import("./components/LogView");
    const line = "동기화 완료: 추가 3, 변경 0 / sync applied";
    expect(inLang(line, "ko")).toBe("동기화 완료: 추가 3, 변경 0");
    expect(inLang(line, "en")).toBe("sync applied");
  });
  it("keeps a line whole when it is not one Korean and one English half", async () => {
    const { inLang } = await import("./components/LogView");
    expect(inLang("plain English line", "ko")).toBe("plain English line");
    expect(inLang("a / b", "ko")).toBe("a / b");
    expect(inLang("경로 A / 경로 B", "en")).toBe("경로 A / 경로 B");
  });
});
