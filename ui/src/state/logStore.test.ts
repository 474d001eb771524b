import { describe, expect, it } from "vitest";
import type { LogLine } from "../api";
import { LogStore, MAX_LINES } from "./logStore";

const line = (seq: number, time = `2026-12-02T12:00:${String(seq % 60).padStart(2, "0")}.000Z`): LogLine => ({
  seq,
  time,
  level: "INFO",
  message: `line ${seq}`,
  target: "nas_sync_engine::sync",
  missed_before: 0,
});

describe("LogStore", () => {
  it("keeps the last 1,000 lines in order", () => {
    const s = new LogStore();
    s.connected();
    for (let i = 1; i <= 1500; i++) s.push(line(i));
    expect(s.all()).toHaveLength(MAX_LINES);
    expect(s.all()[0].seq).toBe(501);
    expect(s.all()[MAX_LINES - 1].seq).toBe(1500);
  });

  it("drops the buffer a reconnect replays", () => {
    const s = new LogStore();
    s.connected();
    [1, 2, 3].forEach((i) => s.push(line(i)));
    s.connected();
    [1, 2, 3, 4].forEach((i) => s.push(line(i)));
    expect(s.all().map((l) => l.seq)).toEqual([1, 2, 3, 4]);
  });

  it("starts over when the server restarted (numbering from 1, newer times)", () => {
    const s = new LogStore();
    s.connected();
    [1, 2, 3].forEach((i) => s.push(line(i, `2026-12-02T12:00:0${i}.000Z`)));
    s.connected();
    s.push(line(1, "2026-12-02T12:05:00.000Z"));
    s.push(line(2, "2026-12-02T12:05:01.000Z"));
    expect(s.all().map((l) => l.message)).toEqual(["line 1", "line 2", "line 3", "line 1", "line 2"]);
  });

  it("Clear empties the screen and a replay does not bring lines back", () => {
    const s = new LogStore();
    s.connected();
    [1, 2].forEach((i) => s.push(line(i)));
    s.clear();
    expect(s.all()).toHaveLength(0);
    s.connected();
    [1, 2, 3].forEach((i) => s.push(line(i)));
    expect(s.all().map((l) => l.seq)).toEqual([3]);
  });

  it("counts lines the server says were missed", () => {
    const s = new LogStore();
    s.connected();
    s.push(line(1));
    s.push({ ...line(10), missed_before: 8 });
    expect(s.missed).toBe(8);
  });
});
