// Korean first, English via the switch. Strings live next to their use as t("한국어", "English")
// so the Korean text is what a reader of the code sees; labels shared by several screens are
// below.
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import type { JobKind, MatchStatus, StatusKind } from "./api/types";

export type Lang = "ko" | "en";
export type T = (ko: string, en: string) => string;

const KEY = "nas-sync-lang";

function initialLang(): Lang {
  try {
    const saved = localStorage.getItem(KEY);
    if (saved === "ko" || saved === "en") return saved;
  } catch {
    // Storage may be unavailable (private mode); Korean is the default.
  }
  return "ko";
}

type Ctx = { lang: Lang; setLang: (l: Lang) => void; t: T };

const LangContext = createContext<Ctx>({ lang: "ko", setLang: () => {}, t: (ko) => ko });

export function LangProvider({ children, lang: fixed }: { children: ReactNode; lang?: Lang }) {
  const [lang, setLangState] = useState<Lang>(fixed ?? initialLang());
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);
  const value = useMemo<Ctx>(
    () => ({
      lang,
      setLang: (l) => {
        setLangState(l);
        try {
          localStorage.setItem(KEY, l);
        } catch {
          // Not remembered; still switched for this page.
        }
      },
      t: (ko, en) => (lang === "ko" ? ko : en),
    }),
    [lang],
  );
  return <LangContext.Provider value={value}>{children}</LangContext.Provider>;
}

export function useLang(): Ctx {
  return useContext(LangContext);
}

export function useT(): T {
  return useContext(LangContext).t;
}

/** PRD 6.1 status names. */
export function statusLabel(s: MatchStatus, t: T): string {
  switch (s) {
    case "synced":
      return t("동기화됨", "Synced");
    case "synced_with_duplicates":
      return t("동기화됨 (중복)", "Synced (duplicates)");
    case "new":
      return t("신규", "New");
    case "copying":
      return t("복사 중", "Copying");
    case "changed":
      return t("변경 대기", "Pending change");
    case "deleted":
      return t("삭제됨", "Deleted");
    case "duplicate":
      return t("중복", "Duplicate");
    case "not_synced":
      return t("미등록", "Not synced");
  }
}

export const statusIcon: Record<MatchStatus, string> = {
  synced: "✅",
  synced_with_duplicates: "✅",
  new: "➕",
  copying: "⏳",
  changed: "🔄",
  deleted: "🗑️",
  duplicate: "⚠️",
  not_synced: "❌",
};

export function monitorLabel(s: StatusKind, t: T): string {
  switch (s) {
    case "ok":
      return t("정상", "OK");
    case "running":
      return t("진행중", "Running");
    case "error":
      return t("에러", "Error");
    case "paused":
      return t("일시정지", "Paused");
    case "warning":
      return t("경고", "Warning");
  }
}

export function jobLabel(k: JobKind, t: T): string {
  switch (k) {
    case "sync":
      return t("동기화", "Sync");
    case "reconcile":
      return t("정합성 검증", "Reconcile");
    case "scan":
      return t("스캔", "Scan");
  }
}

export function phaseLabel(phase: string, t: T): string {
  switch (phase) {
    case "scanning":
      return t("NAS 스캔 중", "Scanning the NAS");
    case "syncing":
      return t("Target 반영 중", "Applying to the Target");
    case "probing":
      return t("미디어 정보 읽는 중", "Reading media info");
    case "comparing":
      return t("비교 중", "Comparing");
    case "done":
      return t("마무리 중", "Finishing");
    case "":
    case "starting":
      return t("시작 중", "Starting");
    default:
      return phase;
  }
}

export function eventLabel(event: string, t: T): string {
  switch (event) {
    case "added":
      return t("추가", "Added");
    case "deleted":
      return t("삭제", "Deleted");
    case "moved":
      return t("이동", "Moved");
    case "updated":
      return t("변경", "Updated");
    case "restored":
      return t("복원", "Restored");
    default:
      return event;
  }
}

export const eventIcon: Record<string, string> = {
  added: "🆕",
  deleted: "❌",
  moved: "↪️",
  updated: "✏️",
  restored: "♻️",
};
