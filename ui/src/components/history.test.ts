import { afterAll, describe, expect, it } from "vitest";
import { localMidnight } from "./History";

describe("localMidnight (history's 이후 date)", () => {
  const tz = process.env.TZ;
  afterAll(() => {
    process.env.TZ = tz;
  });
  it("is the start of the day in Seoul, not UTC midnight (which is 09:00 there)", () => {
    process.env.TZ = "Asia/Seoul";
    expect(localMidnight("2026-12-07")).toBe("2026-12-06T15:00:00Z");
  });
  it("follows the operator's zone elsewhere too", () => {
    process.env.TZ = "America/New_York";
    expect(localMidnight("2026-12-07")).toBe("2026-12-07T05:00:00Z");
  });
  it("passes anything else to the server as typed", () => {
    expect(localMidnight("")).toBeUndefined();
    expect(localMidnight("2026-12-07T09:30:00Z")).toBe("2026-12-07T09:30:00Z");
    expect(localMidnight("not a date")).toBe("not a date");
  });
});
