import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState, type ReactNode } from "react";
import { ApiError, adminNeed, type Config, type RootTest } from "../api";
import { fieldMessage } from "../format";
import { useLang } from "../i18n";
import { useApp } from "../state/app";
import { useSettings } from "../state/queries";
import { AdminNeeded } from "./admin";
import { ErrorPanel } from "./ErrorPanel";
import { Button, Card, Field, Spinner, cx, inputClass } from "./ui";
import { Glyph } from "./Glyph";

/** The form's text for each field (lists as text, numbers as typed). */
type Form = Record<string, string | boolean>;

export function toForm(c: Config): Form {
  return {
    root: c.root ?? "",
    archive_db: c.archive_db ?? "",
    target_db: c.target_db ?? "",
    interval_minutes: String(c.interval_minutes),
    hls_only: c.hls_only,
    hls_extensions: c.hls_extensions.join(", "),
    ignore: c.ignore.join("\n"),
    max_delete_percent: String(c.max_delete_percent),
    max_delete_count: String(c.max_delete_count),
    marker_file: c.marker_file ?? "",
    busy_timeout_secs: String(c.busy_timeout_secs),
    probe_media: c.probe_media,
    strict_codec_check: c.strict_codec_check,
    scan_workers: String(c.scan_workers),
    share_timeout_secs: String(c.share_timeout_secs),
    settle_secs: String(c.settle_secs),
    delete_after_missing_scans: String(c.delete_after_missing_scans),
    probe_workers: String(c.probe_workers),
    ffprobe_path: c.ffprobe_path ?? "",
    tree_full_limit: String(c.tree_full_limit),
    notify_errors: c.notify_errors,
    notify_sync_summary: c.notify_sync_summary,
    autostart: c.autostart ?? false,
    target_wal: c.target_wal,
    no_admin_pin: c.no_admin_pin,
  };
}

/**
 * The fields that differ from the saved config, as the PUT body. A number that does not parse
 * is sent as typed (a string), so the server's field-level message explains it.
 */
export function patchOf(form: Form, saved: Config): Partial<Config> {
  const before = toForm(saved);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(form)) {
    if (v === before[k]) continue;
    switch (k) {
      case "root":
      case "archive_db":
      case "target_db":
      case "marker_file":
        out[k] = String(v).trim() || null;
        break;
      case "ffprobe_path":
        // Set in the settings file or on the command line only (it names a program to run).
        delete out[k];
        continue;
        break;
      case "hls_extensions":
        out[k] = String(v)
          .split(/[,\s]+/)
          .map((x) => x.trim().replace(/^\./, "").toLowerCase())
          .filter(Boolean);
        break;
      case "ignore":
        out[k] = String(v)
          .split("\n")
          .map((x) => x.trim())
          .filter(Boolean);
        break;
      case "interval_minutes":
      case "max_delete_percent":
      case "max_delete_count":
      case "busy_timeout_secs":
      case "scan_workers":
      case "share_timeout_secs":
      case "settle_secs":
      case "delete_after_missing_scans":
      case "probe_workers":
      case "tree_full_limit": {
        const s = String(v).trim();
        const n = Number(s);
        out[k] = s !== "" && Number.isFinite(n) ? n : s;
        break;
      }
      default:
        out[k] = v;
    }
    // Typed differently but the same value (spaces, a trailing comma): nothing to save.
    if (JSON.stringify(out[k]) === JSON.stringify((saved as Record<string, unknown>)[k])) delete out[k];
  }
  return out as Partial<Config>;
}

export function Settings() {
  const { api, status } = useApp();
  const { t, lang, setLang } = useLang();
  const qc = useQueryClient();
  const q = useSettings();
  const [form, setForm] = useState<Form | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState<string | null>(null);
  const [test, setTest] = useState<RootTest | null>(null);
  const [pin, setPin] = useState({ next: "", current: "" });
  useEffect(() => {
    if (q.data && !form) setForm(toForm(q.data.config));
  }, [q.data, form]);
  const save = useMutation({
    mutationFn: (patch: Record<string, unknown>) => api.saveSettings(patch as Partial<Config>),
    onSuccess: (r) => {
      setErrors({});
      setPin({ next: "", current: "" });
      setForm(toForm(r.config));
      setNotice(r.saved ? t("저장했습니다.", "Saved.") : t("적용했습니다 (파일에는 저장되지 않음).", "Applied (not written to a file)."));
      void qc.invalidateQueries();
    },
    onError: (e) => {
      setNotice(null);
      // An administrator's field: the PIN prompt (or the "set a PIN" notice) shows instead.
      if (adminNeed(e)) return;
      if (e instanceof ApiError && e.code === "invalid_settings")
        setErrors(Object.fromEntries(e.errors.map((x) => [x.field, fieldMessage(x.message, lang)])));
      else if (e instanceof ApiError && e.field) setErrors({ [e.field]: fieldMessage(e.message, lang) });
    },
  });
  const testRoot = useMutation({
    mutationFn: (root: string) => api.testRoot(root),
    onSuccess: setTest,
  });
  const pause = useMutation({
    mutationFn: () => (status?.paused ? api.resume() : api.pause()),
  });

  if (q.error) {
    const e = q.error;
    if (e instanceof ApiError && (e.status === 401 || e.status === 403))
      return <ErrorPanel error={new ApiError(403, "forbidden", t("설정은 관리자만 볼 수 있습니다 (관리자 토큰 필요).", "Settings need the admin token."))} />;
    return <ErrorPanel error={e} retry={() => void q.refetch()} />;
  }
  if (!q.data || !form) return <Spinner label={t("불러오는 중…", "Loading…")} />;
  const saved = q.data.config;
  const pinSet = q.data.admin_pin_set;
  const patch: Record<string, unknown> = { ...patchOf(form, saved) };
  // The PIN is not a config field: only a new one (or an emptied one, to clear it) is sent,
  // with the current PIN when one is set.
  if (pin.next.trim() !== "") patch.admin_pin = pin.next.trim();
  if (pin.current.trim() !== "" && "admin_pin" in patch) patch.admin_pin_current = pin.current.trim();
  const dirty = Object.keys(patch).length > 0;
  const set = (k: string) => (v: string | boolean) => {
    setForm({ ...form, [k]: v });
    setNotice(null);
  };
  const text = (k: string, label: ReactNode, hint?: ReactNode, props: { type?: string; multiline?: boolean } = {}) => (
    <Field htmlFor={`s-${k}`} label={label} hint={hint} error={errors[k]}>
      {props.multiline ? (
        <textarea
          id={`s-${k}`}
          data-testid={`s-${k}`}
          rows={3}
          className={cx(inputClass, "font-mono", errors[k] && "border-red-500")}
          value={String(form[k])}
          aria-invalid={!!errors[k]}
          aria-describedby={errors[k] ? `s-${k}-error` : undefined}
          onChange={(e) => set(k)(e.target.value)}
        />
      ) : (
        <input
          id={`s-${k}`}
          data-testid={`s-${k}`}
          type={props.type ?? "text"}
          inputMode={props.type === "number" ? "decimal" : undefined}
          className={cx(inputClass, errors[k] && "border-red-500")}
          value={String(form[k])}
          aria-invalid={!!errors[k]}
          aria-describedby={errors[k] ? `s-${k}-error` : undefined}
          onChange={(e) => set(k)(e.target.value)}
        />
      )}
    </Field>
  );
  const check = (k: string, label: ReactNode, hint?: ReactNode) => (
    <label className="flex items-start gap-2 text-sm" htmlFor={`s-${k}`}>
      <input id={`s-${k}`} data-testid={`s-${k}`} type="checkbox" className="mt-1" checked={Boolean(form[k])} onChange={(e) => set(k)(e.target.checked)} />
      <span>
        <span className="font-medium">{label}</span>
        {hint && <span className="block text-xs text-slate-500">{hint}</span>}
        {errors[k] && <span role="alert" className="block text-xs text-red-600">{errors[k]}</span>}
      </span>
    </label>
  );
  const otherErrors = Object.entries(errors).filter(([k]) => !(k in form) && !k.startsWith("admin_pin"));
  return (
    <form
      data-testid="settings"
      className="flex flex-col gap-4"
      onSubmit={(e) => {
        e.preventDefault();
        if (dirty) save.mutate(patch);
      }}
    >
      {!pinSet && !saved.no_admin_pin && (
        <p role="note" data-testid="s-pin-first" className="rounded-lg border border-violet-300 bg-violet-50 p-3 text-sm text-violet-900 dark:border-violet-800 dark:bg-violet-950 dark:text-violet-100">
          <Glyph of="🔑" />{" "}
          {t(
            "먼저 관리자 PIN을 정하세요 (아래 '관리자 PIN'). 경로, 제외 규칙, 대량 삭제 방지 같은 설정과 스캔 실행·강제 적용은 PIN으로 잠깁니다. 혼자 쓰는 PC라면 'PIN 없이 사용'을 고를 수 있습니다.",
            "Set an admin PIN first ('Admin PIN' below). Paths, exclusion rules, the mass-delete guard, Run scan and Apply anyway are locked by it. On a PC only you use you may choose 'no PIN'.",
          )}
        </p>
      )}
      {q.data.warning && (
        <p role="alert" className="rounded-lg bg-amber-50 p-3 text-sm text-amber-800 dark:bg-amber-950 dark:text-amber-200">
          {q.data.warning}
        </p>
      )}
      <Card icon={<Glyph of="🗄️" />} title={t("NAS와 데이터베이스", "NAS and databases")}>
        <div className="grid gap-4">
          <div className="grid gap-2">
            {text("root", t("NAS 루트 경로 (UNC)", "NAS root path (UNC)"), t("예: \\\\10.10.100.122\\docker\\GGPNAs\\ARCHIVE", "e.g. \\\\10.10.100.122\\docker\\GGPNAs\\ARCHIVE"))}
            <div className="flex flex-wrap items-center gap-2">
              <Button data-testid="s-test-root" disabled={!form.root || testRoot.isPending} onClick={() => testRoot.mutate(String(form.root))}>
                <Glyph of="🔌" /> {t("연결 테스트", "Test connection")}
              </Button>
              {testRoot.isPending && <Spinner />}
              {test && (
                <span role="status" data-testid="s-test-result" data-ok={test.ok} className={cx("text-sm", test.ok ? "text-emerald-700 dark:text-emerald-400" : "text-red-600")}>
                  <Glyph of={test.ok ? "✅" : "❌"} /> {fieldMessage(test.message, lang)}
                </span>
              )}
              {testRoot.error && <span className="text-sm text-red-600">{testRoot.error.message}</span>}
            </div>
          </div>
          <div className="grid gap-4 md:grid-cols-2">
            {text("archive_db", t("Source DB (archive.db)", "Source DB (archive.db)"))}
            {text("target_db", t("Target DB (pokervod.db)", "Target DB (pokervod.db)"))}
          </div>
          {text("marker_file", t("온라인 확인 파일 (선택)", "Online marker file (optional)"), t("이 파일이 루트에 있어야 공유 폴더가 연결된 것으로 봅니다.", "The share counts as online only when this file exists in the root."))}
          {check(
            "target_wal",
            t("Target을 WAL 모드로 전환 (관리자)", "Switch the Target to WAL (admin)"),
            t(
              "기본값은 꺼짐: pokervod.db의 저널 모드는 소유자(OTT 플랫폼)의 설정을 그대로 둡니다. pokervod.db가 이 컴퓨터의 로컬 디스크에 있고 다른 컴퓨터가 열지 않을 때만 켜세요. 네트워크 공유(SMB/NFS)에서는 손상될 수 있습니다.",
              "Off by default: pokervod.db keeps its owner's journal mode. Turn on only when it is on this computer's local disk and no other computer opens it; on a network share (SMB/NFS) WAL can corrupt it.",
            ),
          )}
        </div>
      </Card>
      <Card icon={<Glyph of="⏱️" />} title={t("자동 동기화", "Automatic sync")}>
        <div className="grid gap-4 md:grid-cols-2">
          {text("interval_minutes", t("동기화 간격 (분)", "Interval (minutes)"), t("1–1440분, 기본 30분", "1–1440, default 30"), { type: "number" })}
          {text("busy_timeout_secs", t("Target 잠김 대기 (초)", "Wait for a locked Target (s)"), undefined, { type: "number" })}
          {text("share_timeout_secs", t("NAS 응답 대기 (초)", "Wait for the NAS (s)"), t("NAS가 이 시간 동안 응답하지 않으면 작업을 멈춥니다 (5–3600, 기본 30).", "A job stops when the NAS does not answer for this long (5–3600, default 30)."), { type: "number" })}
          {text("settle_secs", t("복사 완료 대기 (초)", "Copy settle time (s)"), t("이 시간 안에 바뀐 파일은 복사 중으로 보고 OTT에 올리지 않습니다 (0 = 바로, 기본 60).", "Files modified within this time count as still copying and are not published yet (0 = at once, default 60)."), { type: "number" })}
        </div>
        <div className="mt-4 flex items-center gap-3">
          <Button data-testid="s-pause" onClick={() => pause.mutate()} disabled={pause.isPending}>
            {status?.paused ? `▶ ${t("자동 동기화 재개", "Resume schedule")}` : `⏸ ${t("자동 동기화 일시정지", "Pause schedule")}`}
          </Button>
        </div>
      </Card>
      <Card icon={<Glyph of="🎞️" />} title={t("HLS 필터와 제외 규칙", "HLS filter and exclusions")}>
        <div className="grid gap-4">
          {check("hls_only", t("HLS 호환 파일만 동기화", "Sync HLS-compatible files only"), t("아래 확장자만 Target에 등록합니다.", "Only the extensions below reach the Target."))}
          {text("hls_extensions", t("HLS 확장자", "HLS extensions"), t("쉼표로 구분: mp4, mov, ts", "comma separated: mp4, mov, ts"))}
          {check("strict_codec_check", t("코덱까지 확인 (엄격)", "Check codecs too (strict)"), t("HLS 확장자라도 재생할 수 없는 코덱(ProRes 등)은 제외합니다.", "Exclude HLS-extension files whose codec HLS cannot play (ProRes, …)."))}
          {check("probe_media", t("미디어 정보 읽기 (코덱·해상도)", "Probe media (codec, resolution)"))}
          {text("ignore", t("제외 패턴", "Ignore patterns"), t("한 줄에 하나, 예: **/temp/**", "one per line, e.g. **/temp/**"), { multiline: true })}
        </div>
      </Card>
      <Card icon={<Glyph of="⚙️" />} title={t("성능", "Performance")}>
        <div className="grid gap-4 md:grid-cols-2">
          {text("scan_workers", t("스캔 작업자 수", "Scan workers"), t("NAS 폴더를 동시에 읽는 수 (1–64)", "directories listed at once (1–64)"), { type: "number" })}
          {text("probe_workers", t("미디어 분석 작업자 수", "Probe workers"), t("동시에 분석하는 파일 수 (1–32)", "files probed at once (1–32)"), { type: "number" })}
          <Field
            htmlFor="s-ffprobe_path"
            label={t("ffprobe 경로", "ffprobe path")}
            hint={t(
              "실행할 프로그램이므로 설정 파일(ffprobe_path)이나 명령줄(--ffprobe)에서만 바꿀 수 있습니다. 비어 있으면 PATH의 ffprobe를 씁니다.",
              "A program to run, so it is set in the settings file (ffprobe_path) or on the command line (--ffprobe) only. Empty: ffprobe on PATH.",
            )}
          >
            <input id="s-ffprobe_path" data-testid="s-ffprobe_path" readOnly className={cx(inputClass, "bg-slate-100 text-slate-500 dark:bg-slate-800")} value={String(form.ffprobe_path) || t("(PATH의 ffprobe)", "(ffprobe on PATH)")} />
          </Field>
          {text("tree_full_limit", t("전체 트리 최대 파일 수", "Whole-tree file limit"), t("이보다 많으면 폴더를 하나씩 불러옵니다.", "Above this the tree loads one folder at a time."), { type: "number" })}
        </div>
      </Card>
      <Card icon={<Glyph of="🛡️" />} title={t("대량 삭제 방지", "Mass-delete guard")}>
        <p className="mb-3 text-sm text-slate-500">
          {t("두 기준을 모두 넘으면 동기화를 적용하지 않고 확인을 요청합니다.", "A sync over both limits is not applied until someone reviews it.")}
        </p>
        <div className="grid gap-4 md:grid-cols-2">
          {text("max_delete_percent", t("최대 삭제 비율 (%)", "Max delete percent"), undefined, { type: "number" })}
          {text("max_delete_count", t("최대 삭제 건수", "Max delete count"), undefined, { type: "number" })}
          {text("delete_after_missing_scans", t("삭제 전 확인 횟수", "Scans before a delete"), t("파일이 이 횟수만큼 연속으로 보이지 않아야 OTT에서 삭제합니다 (1 = 바로, 1–100).", "A title is deleted only after its file was missing from this many scans in a row (1 = at once, 1–100)."), { type: "number" })}
        </div>
      </Card>
      <Card icon={<Glyph of="🖥️" />} title={t("앱", "App")}>
        <div className="grid gap-4 md:grid-cols-2">
          <Field htmlFor="s-lang" label={t("언어", "Language")}>
            <select id="s-lang" data-testid="s-lang" className={inputClass} value={lang} onChange={(e) => setLang(e.target.value as "ko" | "en")}>
              <option value="ko">한국어</option>
              <option value="en">English</option>
            </select>
          </Field>
          <div className="flex flex-col gap-3">
            {check("notify_errors", t("에러 알림", "Error notifications"), t("에러, 대량 삭제 차단, NAS 재연결 시 데스크톱 알림 (상태가 바뀔 때만)", "Desktop toasts on errors, a tripped guard and a share that is back (on changes only)"))}
            {check("notify_sync_summary", t("동기화 요약 알림", "Sync summary toast"), t("파일이 추가된 동기화 후 알림", "A toast after a sync that added files"))}
            {check("autostart", t("Windows 시작 시 자동 실행", "Start at Windows login"), t("데스크톱 앱: 로그인하면 트레이에서 시작합니다.", "Desktop app: starts minimised to the tray at login."))}
          </div>
        </div>
      </Card>
      <Card icon={<Glyph of="🔑" />} title={t("관리자 PIN", "Admin PIN")} testId="s-pin">
        <p className="mb-3 text-sm text-slate-500">
          {pinSet
            ? t("PIN이 설정되어 있습니다. 스캔 실행에는 PIN이 필요합니다. 바꾸려면 현재 PIN과 새 PIN을 입력하세요.", "A PIN is set; 스캔 실행 (Run scan) asks for it. To change it, enter the current and the new PIN.")
            : saved.no_admin_pin
              ? t("PIN 없이 사용 중입니다: 이 PC의 사용자는 누구나 관리자 작업을 할 수 있습니다. 4–12자리 숫자 PIN을 정하면 관리자 작업이 잠깁니다.", "Running without a PIN: anyone at this PC can do administrators' actions. Set a 4–12 digit PIN to lock them.")
              : t("PIN이 없습니다. 4–12자리 숫자 PIN을 정하면 스캔 실행, 강제 적용, 경로·안전 설정 변경이 관리자 모드로 잠깁니다.", "No PIN yet. Set a 4–12 digit PIN to lock Run scan, Apply anyway and changes to paths and safety settings behind admin mode.")}
        </p>
        {!pinSet && (
          <div className="mb-3">
            {check(
              "no_admin_pin",
              t("PIN 없이 사용 (이 PC를 쓰는 사람은 모두 관리자)", "Run without a PIN (everyone at this PC is an administrator)"),
              t(
                "혼자 쓰는 PC에서만 고르세요. PIN을 정하면 이 선택은 꺼집니다.",
                "Only on a PC nobody else uses. Setting a PIN turns this off.",
              ),
            )}
          </div>
        )}
        <div className="grid gap-4 md:grid-cols-2">
          {pinSet && (
            <Field htmlFor="s-admin_pin_current" label={t("현재 PIN", "Current PIN")} error={errors.admin_pin_current}>
              <input id="s-admin_pin_current" data-testid="s-admin_pin_current" type="password" inputMode="numeric" autoComplete="off" className={cx(inputClass, errors.admin_pin_current && "border-red-500")} value={pin.current} onChange={(e) => setPin({ ...pin, current: e.target.value })} />
            </Field>
          )}
          <Field htmlFor="s-admin_pin" label={pinSet ? t("새 PIN", "New PIN") : t("PIN 설정", "Set PIN")} hint={t("숫자 4–12자리", "4–12 digits")} error={errors.admin_pin}>
            <input id="s-admin_pin" data-testid="s-admin_pin" type="password" inputMode="numeric" autoComplete="new-password" className={cx(inputClass, errors.admin_pin && "border-red-500")} value={pin.next} onChange={(e) => setPin({ ...pin, next: e.target.value })} />
          </Field>
        </div>
      </Card>
      <div className="sticky bottom-0 flex flex-wrap items-center gap-3 border-t border-slate-200 bg-slate-50/95 py-3 dark:border-slate-800 dark:bg-slate-950/95">
        <Button type="submit" variant="primary" data-testid="s-save" disabled={!dirty || save.isPending}>
          {t("저장", "Save")}
        </Button>
        <Button
          variant="ghost"
          disabled={!dirty}
          onClick={() => {
            setForm(toForm(saved));
            setPin({ next: "", current: "" });
            setErrors({});
          }}
        >
          {t("되돌리기", "Revert")}
        </Button>
        {Object.keys(errors).length > 0 && (
          <span role="alert" data-testid="s-errors" className="text-sm text-red-600">
            {t(`${Object.keys(errors).length}개 항목을 확인하세요.`, `Check ${Object.keys(errors).length} field(s).`)}
            {otherErrors.map(([k, m]) => ` ${k}: ${m}`)}
          </span>
        )}
        {notice && <span role="status" data-testid="s-notice" className="text-sm text-emerald-700">{notice}</span>}
        {adminNeed(save.error) && (
          <div className="w-full">
            <AdminNeeded error={save.error} retry={() => save.mutate(patch)} dismiss={() => save.reset()} />
          </div>
        )}
        {q.data.path && <span className="ml-auto truncate text-xs text-slate-400" title={q.data.path}>{q.data.path}</span>}
      </div>
    </form>
  );
}
