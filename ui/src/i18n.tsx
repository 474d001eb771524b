// Korean first, English via the switch. Strings live next to their use as t("한국어", "English")
// so the Korean text is what a reader of the code sees; labels shared by several screens are
// below.
import { createContext, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import type { ErrorCode, JobKind, MatchStatus, StatusKind } from "./api/types";
import type { GlyphName } from "./components/Glyph";

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

export const statusIcon: Record<MatchStatus, GlyphName> = {
  synced: "✅",
  synced_with_duplicates: "✅",
  new: "➕",
  copying: "⏳",
  changed: "🔄",
  deleted: "🗑️",
  duplicate: "⚠️",
  not_synced: "❌",
};

/** 제외 사유: the matching table's `reason` filter values, as the operator reads them. */
export function reasonLabel(r: string, t: T): string {
  switch (r) {
    case "mxf":
      return t("MXF 형식", "MXF format");
    case "mkv":
      return t("MKV 형식", "MKV format");
    case "codec":
      return t("HLS 비호환 코덱", "Codec HLS cannot play");
    case "subtitle":
      return t("자막 파일", "Subtitle file");
    case "other":
      return t("기타 (다른 형식·영상 아님)", "Other (other format, not a video)");
    default:
      return r;
  }
}

/** 같은 이름, 다른 크기: the flag's name and what it means (the row's tooltip, the filter's title). */
export const collisionLabel = (t: T) => t("같은 이름·다른 크기", "Same name, different size");
export const collisionHelp = (t: T) =>
  t(
    "이름은 같지만 크기가 다른 파일입니다. 사본이 아니라 다른 영상일 수 있습니다 (예: 두 이벤트의 Part1.mp4). OTT 플랫폼에는 같은 이름 중 대표 파일 하나만 올라가니, 이름을 바꿔야 하는지 확인하세요.",
    "These files share a name but differ in size: not copies, possibly different videos (e.g. Part1.mp4 of two events). Only one file per name reaches the OTT platform; check whether one should be renamed.",
  );

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

export const eventIcon: Record<string, GlyphName> = {
  added: "🆕",
  deleted: "❌",
  moved: "↪️",
  updated: "✏️",
  restored: "♻️",
};

/**
 * What an error means and what to do in the app, by its code: screens never show the engine's
 * message (its English detail, which may name a setting or a CLI flag, stays in the file log).
 * `Record<ErrorCode, …>` makes a new engine code a type error until it has a sentence here.
 */
const ERROR_ADVICE: Record<ErrorCode, [string, string]> = {
  root_unreachable: ["NAS 공유 폴더에 연결할 수 없습니다. NAS 전원과 네트워크, 탐색기에서 공유 경로가 열리는지 확인하세요.", "The NAS share cannot be reached. Check that the NAS is on, on the network, and that the share opens in Explorer."],
  guard_offline: ["NAS 공유 폴더가 비어 있거나 연결되지 않은 것 같아 동기화를 멈췄습니다. 공유 폴더가 열리는지 확인하세요.", "The NAS share looks empty or offline, so the sync stopped. Check that the share opens."],
  share_timeout: ["NAS가 응답하지 않습니다. NAS가 바쁘거나 멈췄는지 확인하세요. 아무것도 변경하지 않았습니다.", "The NAS does not answer. Check whether it is busy or stuck. Nothing was changed."],
  target_busy: ["다른 프로그램이 OTT 플랫폼 카탈로그를 쓰고 있습니다. 잠시 후 다시 시도하세요.", "Another program is writing the OTT platform's catalog. Try again shortly."],
  sync_running: ["다른 동기화가 진행 중입니다. 끝난 뒤 다시 시도하세요.", "Another sync is running. Try again when it has finished."],
  target_schema: ["OTT 플랫폼 카탈로그 파일의 형식이 예상과 다릅니다. 설정에서 카탈로그 경로를 확인하세요.", "The OTT platform's catalog file is not in the expected format. Check its path in Settings."],
  config_invalid: ["설정이 완전하지 않습니다. 설정 화면에서 빨간색으로 표시된 항목을 확인하세요.", "The settings are incomplete. Check the items marked in red in Settings."],
  invalid_settings: ["설정에 잘못된 값이 있습니다. 빨간색으로 표시된 항목을 고치세요.", "Some settings are invalid. Fix the items marked in red."],
  invalid_argument: ["요청에 잘못된 값이 있습니다. 필터를 지우고 다시 시도하세요.", "The request has an invalid value. Clear the filters and try again."],
  guard_mass_delete: ["OTT 플랫폼의 파일을 한꺼번에 많이 삭제하려 해서 멈췄습니다. 대시보드에서 검토한 뒤 적용하세요.", "The sync would delete many files from the OTT platform, so it stopped. Review it on the dashboard, then apply."],
  stale_review: ["검토한 뒤에 내용이 바뀌었습니다. 대시보드에서 다시 검토하세요.", "Things changed since the review. Review again on the dashboard."],
  too_large: ["한 번에 보기에는 너무 많습니다. 폴더를 열어 나눠 보세요.", "Too much to show at once. Open a folder to see part of it."],
  admin_required: ["관리자 작업입니다. 관리자 PIN을 입력하세요.", "This is an administrator's action. Enter the admin PIN."],
  admin_pin_not_set: ["관리자 PIN이 아직 없습니다. 설정에서 PIN을 정하세요.", "No admin PIN yet. Set one in Settings."],
  not_found: ["찾을 수 없습니다. 목록을 새로 고친 뒤 다시 시도하세요.", "Not found. Refresh the list and try again."],
  not_running: ["이미 끝난 작업입니다.", "That job has already finished."],
  already_configured: ["이미 설정되어 있습니다. 설정 화면에서 바꾸세요.", "Already configured. Change it in Settings."],
  cancelled: ["작업이 취소되었습니다.", "The job was cancelled."],
  schema_too_new: ["데이터 파일이 더 새 버전에서 만들어졌습니다. 프로그램을 업데이트하세요.", "The data file comes from a newer version. Update the program."],
  database: ["데이터 파일을 읽거나 쓰지 못했습니다. 디스크 공간과 권한을 확인한 뒤 다시 시도하세요.", "A data file could not be read or written. Check disk space and permissions, then try again."],
  io: ["파일을 읽거나 쓰지 못했습니다. 디스크 공간과 권한을 확인한 뒤 다시 시도하세요.", "A file could not be read or written. Check disk space and permissions, then try again."],
  internal: ["예상하지 못한 오류입니다. 실시간 로그를 확인하세요.", "An unexpected error. See the live log."],
  unauthorized: ["로그인이 필요합니다. 서버가 알려준 주소로 다시 여세요.", "Sign-in needed. Open the address the server printed."],
  forbidden: ["이 작업은 허용되지 않습니다.", "This action is not allowed."],
  bad_host: ["허용되지 않은 주소로 접속했습니다. 서버가 알려준 주소를 사용하세요.", "Not an allowed address. Use the address the server printed."],
  bad_origin: ["다른 사이트에서 온 요청이라 거부했습니다.", "Refused: the request came from another site."],
  unsupported_media_type: ["요청 형식이 잘못되었습니다.", "The request has the wrong format."],
  method_not_allowed: ["요청 형식이 잘못되었습니다.", "The request has the wrong format."],
  unavailable: ["지금은 처리할 수 없습니다. 잠시 후 다시 시도하세요.", "Not available right now. Try again shortly."],
  autostart: ["로그인 시 자동 시작을 설정하지 못했습니다. 다시 시도하세요.", "Could not set start at login. Try again."],
};

export function errorAdvice(code: string, t: T): string {
  const a = (ERROR_ADVICE as Record<string, [string, string] | undefined>)[code];
  if (a) return t(a[0], a[1]);
  if (code === "unreachable") return t("서버에 연결할 수 없습니다. 다시 연결하는 중입니다.", "The server cannot be reached. Reconnecting.");
  return t("작업을 마치지 못했습니다. 실시간 로그를 확인하세요.", "The action did not finish. See the live log.");
}
