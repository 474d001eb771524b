import { ApiError, isUnreachable } from "../api";
import { errorAdvice, useLang } from "../i18n";
import { navigate } from "../state/router";
import { Button, EmptyState } from "./ui";
import { Glyph } from "./Glyph";

/** A screen-sized error that says what to check, by the error's code (never its text). */
export function ErrorPanel({ error, retry }: { error: unknown; retry?: () => void }) {
  const { t } = useLang();
  const e = error instanceof ApiError ? error : null;
  const again = retry && (
    <Button variant="primary" onClick={retry} data-testid="retry">
      {t("다시 시도", "Try again")}
    </Button>
  );
  if (isUnreachable(error)) {
    return (
      <EmptyState testId="error-unreachable" icon={<Glyph of="🔌" />} title={t("서버에 연결할 수 없습니다", "The server cannot be reached")} action={again}>
        {t(
          "nas-sync serve가 실행 중인지 확인하세요. 서버가 다시 시작되면 화면이 저절로 다시 연결됩니다.",
          "Check that nas-sync serve is running. The page reconnects by itself when the server is back.",
        )}
      </EmptyState>
    );
  }
  if (e?.code === "root_unreachable" || e?.code === "guard_offline") {
    return (
      <EmptyState testId="error-share" icon={<Glyph of="📡" />} title={t("NAS 공유 폴더에 연결할 수 없습니다", "The NAS share cannot be reached")} action={again}>
        <p>{errorAdvice(e.code, t)}</p>
        <ul className="mt-3 list-disc pl-5 text-left">
          <li>{t("NAS 전원과 네트워크 연결을 확인하세요.", "Check that the NAS is on and on the network.")}</li>
          <li>{t("탐색기에서 공유 경로(예: \\\\10.10.100.122\\docker\\GGPNAs\\ARCHIVE)가 열리는지 확인하세요.", "Check that the share path (e.g. \\\\10.10.100.122\\docker\\GGPNAs\\ARCHIVE) opens in Explorer.")}</li>
          <li>{t("계정 권한이나 드라이브 연결이 끊기지 않았는지 확인하세요.", "Check that the credentials and the mapped drive are still valid.")}</li>
          <li>
            <button type="button" className="text-blue-600 underline" onClick={() => navigate("settings")}>
              {t("설정에서 루트 경로를 확인", "Check the root path in Settings")}
            </button>
          </li>
        </ul>
      </EmptyState>
    );
  }
  if (e?.code === "target_busy" || e?.code === "sync_running") {
    return (
      <EmptyState testId="error-target-locked" icon={<Glyph of="🔒" />} title={t("OTT 플랫폼 카탈로그가 잠겨 있습니다", "The OTT platform's catalog is locked")} action={again}>
        {t(
          "다른 프로그램이 OTT 플랫폼 카탈로그에 쓰는 중입니다. 잠시 후 다시 시도하세요. 동기화는 아무것도 반쯤 적용하지 않습니다.",
          "Another program is writing to pokervod.db. Try again shortly; a sync never applies half of its changes.",
        )}
      </EmptyState>
    );
  }
  return (
    <EmptyState testId="error-generic" icon={<Glyph of="⚠️" />} title={t("문제가 생겼습니다", "Something went wrong")} action={again}>
      <p>{e ? errorAdvice(e.code, t) : t("예상하지 못한 오류입니다. 실시간 로그를 확인하세요.", "An unexpected error. See the live log.")}</p>
      {e && <p className="mt-1 font-mono text-xs">{e.code}</p>}
    </EmptyState>
  );
}
