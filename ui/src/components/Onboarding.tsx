import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError, type Config, type RootTest } from "../api";
import { fieldMessage } from "../format";
import { useLang } from "../i18n";
import { useApi } from "../state/app";
import { Button, Card, Field, cx, inputClass } from "./ui";
import { Glyph } from "./Glyph";

/** No NAS configured yet: ask for the root (and the Target), or start with the demo archive. */
export function Onboarding() {
  const api = useApi();
  const { t, lang } = useLang();
  const qc = useQueryClient();
  const [root, setRoot] = useState("");
  const [target, setTarget] = useState("");
  // The first admin PIN, or the explicit choice to run without one (the engine asks for one
  // of the two before paths can be saved).
  const [pin, setPin] = useState("");
  const [noPin, setNoPin] = useState(false);
  const [test, setTest] = useState<RootTest | null>(null);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const testRoot = useMutation({ mutationFn: () => api.testRoot(root), onSuccess: setTest });
  const save = useMutation({
    mutationFn: () => {
      const patch: Record<string, unknown> = { root: root || null, target_db: target || null };
      if (noPin) patch.no_admin_pin = true;
      else patch.admin_pin = pin.trim();
      return api.saveSettings(patch as Partial<Config>);
    },
    onSuccess: () => {
      setErrors({});
      void qc.invalidateQueries();
    },
    onError: (e) => {
      if (e instanceof ApiError && e.errors.length)
        setErrors(Object.fromEntries(e.errors.map((x) => [x.field, fieldMessage(x.message, lang)])));
    },
  });
  const demo = useMutation({
    mutationFn: () => api.createDemo(),
    onSuccess: () => void qc.invalidateQueries(),
  });
  return (
    <div className="mx-auto flex max-w-2xl flex-col gap-4" data-testid="onboarding">
      <Card icon={<Glyph of="👋" />} title={t("NAS 동기화 모니터 시작하기", "Getting started")}>
        <p className="text-sm text-slate-600 dark:text-slate-300">
          {t(
            "아직 NAS 아카이브가 설정되지 않았습니다. 영상이 있는 NAS 공유 폴더(Source)와 OTT 플랫폼의 pokervod.db(Target)를 알려주세요.",
            "No NAS archive is configured yet. Tell us the NAS share with the videos (Source) and the OTT platform's pokervod.db (Target).",
          )}
        </p>
        <form
          className="mt-4 flex flex-col gap-4"
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate();
          }}
        >
          <Field
            htmlFor="ob-root"
            label={t("NAS 루트 경로 (UNC)", "NAS root path (UNC)")}
            hint={t("예: \\\\10.10.100.122\\docker\\GGPNAs\\ARCHIVE", "e.g. \\\\10.10.100.122\\docker\\GGPNAs\\ARCHIVE")}
            error={errors.root}
          >
            <div className="flex gap-2">
              <input id="ob-root" className={inputClass} value={root} onChange={(e) => setRoot(e.target.value)} />
              <Button disabled={!root || testRoot.isPending} onClick={() => testRoot.mutate()} data-testid="ob-test">
                {t("연결 테스트", "Test")}
              </Button>
            </div>
          </Field>
          {test && (
            <p role="status" data-ok={test.ok} className={test.ok ? "text-sm text-emerald-700" : "text-sm text-red-600"}>
              <Glyph of={test.ok ? "✅" : "❌"} />{" "}
              {fieldMessage(test.message, lang)}
            </p>
          )}
          <Field htmlFor="ob-target" label={t("OTT 플랫폼 카탈로그 파일 (pokervod.db)", "OTT platform catalog file (pokervod.db)")} error={errors.target_db}>
            <input id="ob-target" className={inputClass} value={target} onChange={(e) => setTarget(e.target.value)} />
          </Field>
          <Field
            htmlFor="ob-pin"
            label={t("관리자 PIN", "Admin PIN")}
            hint={t(
              "숫자 4–12자리. 스캔 실행, 강제 적용, 경로·안전 설정 변경에 필요합니다.",
              "4–12 digits; needed for Run scan, Apply anyway and changes to paths and safety settings.",
            )}
            error={errors.admin_pin}
          >
            <input
              id="ob-pin"
              data-testid="ob-pin"
              type="password"
              inputMode="numeric"
              autoComplete="new-password"
              disabled={noPin}
              className={cx(inputClass, errors.admin_pin && "border-red-500")}
              value={pin}
              onChange={(e) => setPin(e.target.value)}
            />
          </Field>
          <label className="flex items-start gap-2 text-sm" htmlFor="ob-no-pin">
            <input id="ob-no-pin" data-testid="ob-no-pin" type="checkbox" className="mt-1" checked={noPin} onChange={(e) => setNoPin(e.target.checked)} />
            <span>
              {t("PIN 없이 사용 (혼자 쓰는 PC)", "No PIN (a PC only I use)")}
              <span className="block text-xs text-slate-500">
                {t("이 PC를 쓰는 사람은 누구나 관리자 작업을 할 수 있습니다. 나중에 설정에서 PIN을 정할 수 있습니다.", "Anyone at this PC can do administrators' actions; you can set a PIN later in Settings.")}
              </span>
            </span>
          </label>
          {save.error && !errors.root && !errors.target_db && !errors.admin_pin && (
            <p role="alert" className="text-sm text-red-600">{save.error.message}</p>
          )}
          <div className="flex flex-wrap gap-2">
            <Button type="submit" variant="primary" data-testid="ob-save" disabled={!root || (!noPin && !pin.trim()) || save.isPending}>
              {t("저장하고 시작", "Save and start")}
            </Button>
          </div>
        </form>
      </Card>
      <Card icon={<Glyph of="🧪" />} title={t("먼저 둘러보기", "Just looking?")}>
        <p className="text-sm text-slate-600 dark:text-slate-300">
          {t(
            "실제 NAS 없이 300개 파일의 데모 아카이브로 화면을 확인할 수 있습니다. 데모는 설정 폴더 옆에 만들어지고, 실제 NAS 설정은 나중에 바꿀 수 있습니다.",
            "Try the screens on a 300-file demo archive without a NAS. It is created next to the settings; you can switch to the real NAS later.",
          )}
        </p>
        <Button className="mt-3" data-testid="ob-demo" disabled={demo.isPending} onClick={() => demo.mutate()}>
          {demo.isPending ? t("만드는 중…", "Creating…") : t("데모 아카이브로 시작", "Start with the demo archive")}
        </Button>
        {demo.error && <p role="alert" className="mt-2 text-sm text-red-600">{demo.error.message}</p>}
      </Card>
    </div>
  );
}
