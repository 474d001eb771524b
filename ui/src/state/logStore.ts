// The live log as the screen keeps it: the last 1,000 lines, in engine order, without the
// duplicates a reconnect replays (the server sends its buffer first on every connection), and
// starting over when the server restarted (its numbering starts again at 1).
import type { LogLine } from "../api/types";

export const MAX_LINES = 1000;

export class LogStore {
  private lines: LogLine[] = [];
  private lastSeq = 0;
  private lastTime = "";
  /** Lines the server said this client missed (slow consumer), summed. */
  missed = 0;
  private fresh = true;
  private version = 0;

  /** Call when a new connection opens: its first lines may be a replay. */
  connected() {
    this.fresh = true;
  }

  push(l: LogLine): boolean {
    if (this.fresh) {
      this.fresh = false;
      if (this.lastSeq > 0 && l.seq <= this.lastSeq) {
        const known = this.lines.find((x) => x.seq === l.seq);
        // Same numbering as before (a replay after a reconnect) unless this line is new to us.
        const replay = known ? known.time === l.time : l.seq < this.lastSeq && l.time <= this.lastTime;
        if (!replay) this.lastSeq = 0;
      }
    }
    if (l.seq <= this.lastSeq) return false;
    this.lastSeq = l.seq;
    this.lastTime = l.time;
    if (l.missed_before) this.missed += l.missed_before;
    this.lines.push(l);
    if (this.lines.length > MAX_LINES) this.lines.splice(0, this.lines.length - MAX_LINES);
    this.version++;
    return true;
  }

  /** Empties the screen; lines already seen are not shown again by a replay. */
  clear() {
    this.lines = [];
    this.missed = 0;
    this.version++;
  }

  all(): readonly LogLine[] {
    return this.lines;
  }

  get rev(): number {
    return this.version;
  }
}
