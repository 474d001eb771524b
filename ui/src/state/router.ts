// A small router over the History API: the view is the path, the screen's state (filters, page,
// sort) is the query string, so a reload or a shared link shows the same thing.
import { useSyncExternalStore } from "react";

export type View = "dashboard" | "matching" | "problems" | "logs" | "history" | "settings";
export const VIEWS: View[] = ["dashboard", "matching", "problems", "logs", "history", "settings"];

const listeners = new Set<() => void>();

function notify() {
  for (const l of listeners) l();
}

if (typeof window !== "undefined") window.addEventListener("popstate", notify);

function subscribe(l: () => void) {
  listeners.add(l);
  return () => {
    listeners.delete(l);
  };
}

function snapshot(): string {
  return window.location.pathname + window.location.search;
}

/** The app is served at the root of the server or from a file URL in the desktop bundle. */
export function viewOf(pathname: string): View {
  const last = pathname.replace(/\/+$/, "").split("/").pop() ?? "";
  return (VIEWS as string[]).includes(last) ? (last as View) : "dashboard";
}

export function useLocation(): { view: View; params: URLSearchParams } {
  const href = useSyncExternalStore(subscribe, snapshot, () => "/");
  const url = new URL(href, "http://x");
  return { view: viewOf(url.pathname), params: url.searchParams };
}

function basePath(): string {
  const p = window.location.pathname;
  const v = viewOf(p);
  if (v === "dashboard" && !p.endsWith("/dashboard")) return p.endsWith("/") ? p : `${p}/`;
  return p.slice(0, p.length - v.length);
}

export function navigate(
  view: View,
  params?: Record<string, string | number | boolean | null | undefined>,
  replace = false,
) {
  const q = new URLSearchParams();
  if (params) {
    for (const [k, v] of Object.entries(params)) {
      if (v === null || v === undefined || v === "" || v === false) continue;
      q.set(k, String(v));
    }
  }
  const s = q.toString();
  const path = view === "dashboard" ? basePath() : basePath() + view;
  const url = path + (s ? `?${s}` : "");
  if (url === snapshot()) return;
  if (replace) window.history.replaceState(null, "", url);
  else window.history.pushState(null, "", url);
  notify();
}
