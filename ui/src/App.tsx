import { lazy, Suspense } from "react";
import { Dashboard } from "./components/Dashboard";
import { Header } from "./components/Header";
import { Spinner } from "./components/ui";
import { useLang } from "./i18n";
import { useApp } from "./state/app";
import { useLocation } from "./state/router";

// The dashboard is in the first bundle (first data fast); the other screens load when opened.
const Matching = lazy(() => import("./components/Matching").then((m) => ({ default: m.Matching })));
const LogView = lazy(() => import("./components/LogView").then((m) => ({ default: m.LogView })));
const History = lazy(() => import("./components/History").then((m) => ({ default: m.History })));
const Settings = lazy(() => import("./components/Settings").then((m) => ({ default: m.Settings })));

function OfflineBanner() {
  const { online } = useApp();
  const { t } = useLang();
  if (online) return null;
  return (
    <div role="alert" data-testid="offline-banner" className="bg-amber-100 px-4 py-2 text-center text-sm text-amber-900 dark:bg-amber-900 dark:text-amber-100">
      🔌 {t("서버와 연결이 끊겼습니다. 다시 연결하는 중…", "Lost the connection to the server. Reconnecting…")}
    </div>
  );
}

export function App() {
  const { view } = useLocation();
  return (
    <div className="flex min-h-full flex-col">
      <Header />
      <OfflineBanner />
      <main className="mx-auto w-full max-w-7xl flex-1 px-4 py-5">
        <Suspense fallback={<Spinner />}>
          {view === "dashboard" && <Dashboard />}
          {view === "matching" && <Matching />}
          {view === "logs" && <LogView />}
          {view === "history" && <History />}
          {view === "settings" && <Settings />}
        </Suspense>
      </main>
    </div>
  );
}
