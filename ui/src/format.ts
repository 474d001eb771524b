// Formatting for people: numbers, sizes, times, durations. Pure functions (tested).
import type { Lang } from "./i18n";

const locales: Record<Lang, string> = { ko: "ko-KR", en: "en-US" };

export function formatNumber(n: number, lang: Lang = "ko"): string {
  return new Intl.NumberFormat(locales[lang]).format(n);
}

/** 1,288,490,188 → "1.2 GB" (binary units, as Windows Explorer shows them). */
export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "—";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB", "PB"];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = v >= 100 ? 0 : 1;
  return `${v.toFixed(digits)} ${units[i]}`;
}

/** 0.912 → "91%"; 0.0004 → "0.04%" is shown as "<1%". */
export function formatPercent(ratio: number): string {
  if (!Number.isFinite(ratio)) return "—";
  const p = ratio * 100;
  if (p > 0 && p < 1) return "<1%";
  return `${Math.round(p)}%`;
}

/** "1920x1080" → "1080p"; 3840x2160 → "4K"; others unchanged. */
export function formatResolution(res: string | null | undefined): string | null {
  if (!res) return null;
  const m = /^(\d+)x(\d+)$/.exec(res);
  if (!m) return res;
  const h = Number(m[2]);
  const w = Number(m[1]);
  if (w >= 3800 || h >= 2100) return "4K";
  if ([2160, 1440, 1080, 720, 576, 480, 360].includes(h)) return `${h}p`;
  return res;
}

/** "5분 전" / "5 minutes ago", relative to `now` (ms). Future times read as "방금". */
export function relativeTime(iso: string | null | undefined, now: number, lang: Lang = "ko"): string {
  if (!iso) return lang === "ko" ? "없음" : "never";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, Math.round((now - t) / 1000));
  const ko = lang === "ko";
  if (s < 45) return ko ? "방금 전" : "just now";
  const m = Math.round(s / 60);
  if (m < 60) return ko ? `${m}분 전` : `${m} minute${m === 1 ? "" : "s"} ago`;
  const h = Math.round(s / 3600);
  if (h < 24) return ko ? `${h}시간 전` : `${h} hour${h === 1 ? "" : "s"} ago`;
  const d = Math.round(s / 86400);
  if (d < 30) return ko ? `${d}일 전` : `${d} day${d === 1 ? "" : "s"} ago`;
  return formatDateTime(iso, lang);
}

/** Local date and time, "2026-12-02 13:30". */
export function formatDateTime(iso: string | null | undefined, _lang: Lang = "ko"): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Local "13:30:15" of a log line. */
export function formatClock(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Seconds → "1분 5초" / "1 min 5 s". */
export function formatDuration(sec: number | null | undefined, lang: Lang = "ko"): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec)) return "—";
  const s = Math.max(0, Math.round(sec));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const ko = lang === "ko";
  const parts: string[] = [];
  if (h) parts.push(ko ? `${h}시간` : `${h} h`);
  if (m) parts.push(ko ? `${m}분` : `${m} min`);
  if (r || parts.length === 0) parts.push(ko ? `${r}초` : `${r} s`);
  return parts.join(" ");
}

/**
 * Page numbers to show for `page` of `pages`: first, last, and a window around the current
 * one, with `null` where numbers are left out. [1, null, 4, 5, 6, null, 127]
 */
export function pageWindow(page: number, pages: number, around = 2): (number | null)[] {
  if (pages <= 1) return [1];
  const set = new Set<number>([1, pages]);
  for (let p = page - around; p <= page + around; p++) if (p >= 1 && p <= pages) set.add(p);
  const sorted = [...set].sort((a, b) => a - b);
  const out: (number | null)[] = [];
  for (let i = 0; i < sorted.length; i++) {
    if (i > 0 && sorted[i] - sorted[i - 1] > 1) {
      if (sorted[i] - sorted[i - 1] === 2) out.push(sorted[i] - 1);
      else out.push(null);
    }
    out.push(sorted[i]);
  }
  return out;
}

/** Top `n` catalogs by count and the rest summed as one "기타" entry. */
export function topCatalogs<T extends { id: string; count: number }>(
  catalogs: T[],
  n: number,
): { id: string; count: number; other: boolean }[] {
  const sorted = [...catalogs].sort((a, b) => b.count - a.count || a.id.localeCompare(b.id));
  const top = sorted.slice(0, n).map((c) => ({ id: c.id, count: c.count, other: false }));
  const rest = sorted.slice(n).reduce((s, c) => s + c.count, 0);
  if (sorted.length > n && rest > 0) top.push({ id: "", count: rest, other: true });
  return top;
}

/**
 * A server message for a form field in the screen's language: bilingual messages ("한국어 /
 * English") give their half; the engine's English-only range checks are said in Korean.
 */
export function fieldMessage(message: string, lang: Lang): string {
  const split = message.lastIndexOf(" / ");
  if (split > 0 && /[\uac00-\ud7a3]/.test(message.slice(0, split))) {
    return lang === "ko" ? message.slice(0, split) : message.slice(split + 3);
  }
  if (lang === "en") return message;
  const range = /^\w+ must be between (\S+) and (\S+) \(got (.*)\)$/.exec(message);
  if (range) return `${range[1]}–${range[2]} 사이의 값이어야 합니다 (입력값: ${range[3]})`;
  if (/must name at least one extension/.test(message))
    return "확장자를 하나 이상 입력하세요 (예: mp4, mov, ts)";
  return message;
}
