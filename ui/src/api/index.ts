import { HttpTransport } from "./http";
import { TauriTransport } from "./tauri";
import type { Transport } from "./transport";

export * from "./types";
export { ApiError, adminNeed, isUnauthorized, isUnreachable, needsSetup } from "./errors";
export type { Transport, StreamState } from "./transport";

declare global {
  interface Window {
    __TAURI_INTERNALS__?: unknown;
  }
}

/** Where an earlier version kept a `?token=` (tokens now live in an HttpOnly cookie only). */
const OLD_TOKEN_KEY = "nas-sync-token";

/** Tauri inside the desktop window, HTTP + WebSocket in a browser. */
export function createTransport(): Transport {
  if (typeof window !== "undefined" && window.__TAURI_INTERNALS__) return new TauriTransport();
  try {
    localStorage.removeItem(OLD_TOKEN_KEY);
  } catch {
    // No storage (private mode): nothing to forget.
  }
  // The server traded the printed `?token=` for an HttpOnly session cookie before this page
  // loaded; every request carries that cookie.
  return new HttpTransport("");
}
