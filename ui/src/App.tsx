import { lazy, Suspense, useState } from "react";
import { Dashboard } from "./components/dashboard";
import { Header } from "./components/Header";
import { Button, Card, Spinner, inputClass } from "./components/ui";
import { useLang } from "./i18n";
import { useApp, useOnline } from "./state/app";
import { useLocation } from "./state/router";
import { Glyph } from "./components/Glyph";

// The dashboard is in the first bundle (first data fast); the other screens load when opened.
const Matching = lazy(() => import("./components/Matching").then((m) => ({ default: m.Matching })));
const LogView = lazy(() => import("./components/LogView").then((m) => ({ default: m.LogView })));
const Problems = lazy(() => import("./components/Problems").then((m) => ({ default: m.Problems })));
const History = lazy(() => import("./components/History").then((m) => ({ default: m.History })));
const Settings = lazy(() => import("./components/Settings").then((m) => ({ default: m.Settings })));

function OfflineBanner() {
  const online = useOnline();
  const { t } = useLang();
  if (online) return null;
  return (
    <div role="alert" data-testid="offline-banner" className="bg-amber-100 px-4 py-2 text-center text-sm text-amber-900 dark:bg-amber-900 dark:text-amber-100">
      <Glyph of="🔌" /> {t("서버와 연결이 끊겼습니다. 다시 연결하는 중…", "Lost the connection to the server. Reconnecting…")}
    </div>
  );
}

/** Where a pasted address or token leads: this page with `?token=` (the server trades it for a
 * session cookie and sends the browser back here without it). */
export function signInUrl(input: string, here: Location | URL = window.location): string | null {
  const text = input.trim();
  if (!text) return null;
  let token = text;
  if (/[?&]token=/.test(text)) {
    try {
      token = new URL(text, here.href).searchParams.get("token") ?? "";
    } catch {
      return null;
    }
  }
  if (!token || /\s/.test(token)) return null;
  const url = new URL(here.href);
  url.searchParams.set("token", token);
  return url.pathname + url.search;
}

/** The page was opened without the server's token (or the server restarted with a new one). */
function TokenScreen() {
  const { t } = useLang();
  const [value, setValue] = useState("");
  const target = signInUrl(value);
  return (
    <div className="mx-auto flex max-w-2xl flex-col gap-4" data-testid="token-screen">
      <Card icon={<Glyph of="🔐" />} title={t("접속 토큰이 필요합니다", "An access token is needed")}>
        <p className="text-sm text-slate-600 dark:text-slate-300">
          {t(
            "이 화면은 서버를 시작할 때 출력된 주소(http://…/?token=…)로 열어야 합니다. 다른 웹 페이지가 이 서버를 조작하지 못하게 하려는 것입니다. 서버를 다시 시작했다면 새 주소가 출력되었습니다.",
            "Open this page from the address the server printed when it started (http://…/?token=…); this keeps other web pages from driving the server. If the server restarted, it printed a new address.",
          )}
        </p>
        <ul className="mt-2 list-disc pl-5 text-sm text-slate-600 dark:text-slate-300">
          <li>{t("scripts/run.sh 또는 nas-sync serve를 실행한 창에서 'open http://…' 줄을 찾으세요.", "Look for the 'open http://…' line where scripts/run.sh or nas-sync serve runs.")}</li>
          <li>{t("또는 그 주소나 토큰을 아래에 붙여 넣으세요.", "Or paste that address or the token below.")}</li>
        </ul>
        <form
          className="mt-4 flex flex-wrap gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            if (target) window.location.assign(target);
          }}
        >
          <label htmlFor="token-input" className="sr-only">
            {t("주소 또는 토큰", "Address or token")}
          </label>
          <input
            id="token-input"
            data-testid="token-input"
            type="password"
            autoComplete="off"
            placeholder={t("주소 또는 토큰", "Address or token")}
            className={inputClass + " flex-1"}
            value={value}
            onChange={(e) => setValue(e.target.value)}
          />
          <Button type="submit" variant="primary" data-testid="token-submit" disabled={!target}>
            {t("열기", "Open")}
          </Button>
        </form>
      </Card>
    </div>
  );
}

export function App() {
  const { view } = useLocation();
  const { unauthorized } = useApp();
  if (unauthorized) {
    return (
      <div className="flex min-h-full flex-col">
        <main className="mx-auto w-full max-w-7xl flex-1 px-4 py-10">
          <TokenScreen />
        </main>
      </div>
    );
  }
  return (
    <div className="flex min-h-full flex-col">
      <Header />
      <OfflineBanner />
      <main className="mx-auto w-full max-w-7xl flex-1 px-4 py-5">
        <Suspense fallback={<Spinner />}>
          {view === "dashboard" && <Dashboard />}
          {view === "matching" && <Matching />}
          {view === "problems" && <Problems />}
          {view === "logs" && <LogView />}
          {view === "history" && <History />}
          {view === "settings" && <Settings />}
        </Suspense>
      </main>
    </div>
  );
}
