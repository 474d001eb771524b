import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { createTransport, isUnreachable } from "./api";
import { App } from "./App";
import { LangProvider } from "./i18n";
import "./index.css";
import { AppProvider } from "./state/app";

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 5_000,
      refetchOnWindowFocus: true,
      // Only a server that is down (restarting) is worth asking again; other errors are answers.
      retry: (n, e) => isUnreachable(e) && n < 3,
      retryDelay: (n) => Math.min(3000, 500 * 2 ** n),
    },
  },
});

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <LangProvider>
          <AppProvider api={createTransport()}>
            <App />
          </AppProvider>
        </LangProvider>
      </QueryClientProvider>
    </StrictMode>,
  );
}
