// The admin boundary as the operator meets it. The engine decides (README "Security"): an
// action it refuses with `admin_required` asks for the PIN here and is tried again once admin
// mode is unlocked; `admin_pin_not_set` says to set a PIN (or choose to run without) in 설정.
import { useMutation } from "@tanstack/react-query";
import { useState } from "react";
import { adminNeed } from "../api";
import { fieldMessage } from "../format";
import { useLang } from "../i18n";
import { useApi } from "../state/app";
import { navigate } from "../state/router";
import { Button, cx, fieldClass } from "./ui";
import { Glyph } from "./Glyph";

/** The admin PIN form; the engine throttles wrong guesses and answers how long admin mode lasts. */
export function PinPrompt({ onUnlocked, onCancel }: { onUnlocked: () => void; onCancel: () => void }) {
  const api = useApi();
  const { t, lang } = useLang();
  const [pin, setPin] = useState("");
  const check = useMutation({
    mutationFn: (p: string) => api.verifyPin(p),
    onSuccess: (r) => {
      if (r.ok) onUnlocked();
    },
  });
  const failed = check.data && !check.data.ok ? check.data : null;
  return (
    <form
      data-testid="pin-prompt"
      className="mt-3 flex flex-wrap items-center gap-2 rounded-lg border border-violet-300 bg-violet-50 p-3 text-sm dark:border-violet-800 dark:bg-violet-950"
      onSubmit={(e) => {
        e.preventDefault();
        if (pin.trim()) check.mutate(pin.trim());
      }}
    >
      <label htmlFor="pin-input" className="font-medium">
        <Glyph of="🔑" /> {t("관리자 PIN", "Admin PIN")}
      </label>
      <input
        id="pin-input"
        data-testid="pin-input"
        type="password"
        inputMode="numeric"
        autoComplete="off"
        autoFocus
        className={cx(fieldClass, "w-36")}
        value={pin}
        onChange={(e) => setPin(e.target.value)}
      />
      <Button type="submit" variant="primary" data-testid="pin-submit" disabled={!pin.trim() || check.isPending}>
        {t("확인", "Unlock")}
      </Button>
      <Button variant="ghost" onClick={onCancel}>
        {t("취소", "Cancel")}
      </Button>
      <span className="w-full text-xs text-slate-500">
        {t("관리자 작업입니다. PIN을 확인하면 15분 동안 관리자 모드가 유지됩니다.", "An administrator's action. Admin mode lasts 15 minutes after the PIN.")}
      </span>
      {failed && (
        <span role="alert" data-testid="pin-error" className="text-red-600">
          {fieldMessage(failed.message, lang)}
        </span>
      )}
      {check.error && <span role="alert" className="text-red-600">{check.error.message}</span>}
    </form>
  );
}

/** No PIN yet and nobody chose to run without one: only 설정 can unlock administrators' actions. */
export function PinNotSet({ onClose }: { onClose?: () => void }) {
  const { t } = useLang();
  return (
    <div
      role="alert"
      data-testid="admin-pin-not-set"
      className="mt-3 rounded-lg border border-violet-300 bg-violet-50 p-3 text-sm dark:border-violet-800 dark:bg-violet-950"
    >
      <p className="font-semibold"><Glyph of="🔑" /> {t("관리자 PIN을 먼저 정하세요", "Set an admin PIN first")}</p>
      <p className="mt-1">
        {t(
          "스캔 실행, 강제 적용, 경로·안전 설정 변경은 관리자 작업입니다. 설정 → 관리자 PIN에서 PIN을 정하거나, 혼자 쓰는 PC라면 'PIN 없이 사용'을 선택하세요. 아무것도 적용하지 않았습니다.",
          "Run scan, apply anyway and changes to paths or safety settings are administrators' actions. Set a PIN in Settings → Admin PIN, or choose 'no PIN' on a PC only you use. Nothing was applied.",
        )}
      </p>
      <div className="mt-2 flex gap-2">
        <Button variant="primary" data-testid="admin-go-settings" onClick={() => navigate("settings")}>
          {t("설정 열기", "Open settings")}
        </Button>
        {onClose && (
          <Button variant="ghost" onClick={onClose}>
            {t("닫기", "Close")}
          </Button>
        )}
      </div>
    </div>
  );
}

/**
 * What to show for an error the engine gave an administrator's action: the PIN prompt (then
 * `retry`), the "set a PIN" notice, or nothing (not an admin error).
 */
export function AdminNeeded({ error, retry, dismiss }: { error: unknown; retry: () => void; dismiss: () => void }) {
  const need = adminNeed(error);
  if (need === "pin") return <PinPrompt onUnlocked={retry} onCancel={dismiss} />;
  if (need === "set_pin") return <PinNotSet onClose={dismiss} />;
  return null;
}
