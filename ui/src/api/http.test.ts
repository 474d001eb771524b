import { describe, expect, it } from "vitest";
import { HttpTransport, backoffMs, queryString } from "./http";

describe("queryString", () => {
  it("keeps an empty tree path (the root) but drops other empty filters", () => {
    expect(queryString({ path: "", limit: 500 })).toBe("?path=&limit=500");
    expect(queryString({ status: "", catalog: undefined, search: "Day1", desc: false, page: 2 })).toBe(
      "?search=Day1&page=2",
    );
    expect(queryString({ desc: true })).toBe("?desc=true");
    expect(queryString({})).toBe("");
  });
  it("encodes Hangul and spaces", () => {
    expect(queryString({ path: "한국포커투어/2024 시즌" })).toBe(
      "?path=%ED%95%9C%EA%B5%AD%ED%8F%AC%EC%BB%A4%ED%88%AC%EC%96%B4%2F2024+%EC%8B%9C%EC%A6%8C",
    );
  });
});

describe("backoffMs", () => {
  it("grows from half a second and stays at three", () => {
    expect([0, 1, 2, 3, 10].map(backoffMs)).toEqual([500, 1000, 2000, 3000, 3000]);
  });
});

describe("exportUrl", () => {
  const t = new HttpTransport("");
  const zone = `utc_offset=${-new Date().getTimezoneOffset()}`;
  it("carries the screen's filters but not its page, the language and the browser's zone", () => {
    expect(
      t.exportUrl({
        kind: "matching",
        query: { status: "synced", catalog: "WSOP", search: "한글", sort: "size", desc: true, page: 3, per_page: 20 },
        lang: "ko",
      }),
    ).toBe(`/api/matching/export.csv?status=synced&catalog=WSOP&search=%ED%95%9C%EA%B8%80&sort=size&desc=true&lang=ko&${zone}`);
    expect(t.exportUrl({ kind: "history", query: { search: "100%_", limit: 20, offset: 40 }, lang: "en" })).toBe(
      `/api/history/export.csv?search=100%25_&lang=en&${zone}`,
    );
    expect(t.exportUrl({ kind: "reconcile", jobId: 7, lang: "ko" })).toBe(`/api/reconcile/export.csv?job_id=7&lang=ko&${zone}`);
    expect(t.exportUrl({ kind: "reconcile", jobId: null, lang: "ko" })).toBe(`/api/reconcile/export.csv?lang=ko&${zone}`);
  });
});
