import { HttpTransport } from "./http";
import { TauriTransport } from "./tauri";
import type { Transport } from "./transport";

export * from "./types";
export { ApiError, isUnreachable, needsSetup } from "./errors";
export type { Transport, StreamState } from "./transport";

declare global {
  interface Window {
    __TAURI_INTERNALS__?: unknown;
  }
}

const TOKEN_KEY = "nas-sync-token";

/** A `?token=` in the page's address is remembered (servers off loopback need one). */
function token(): string | null {
  try {
    const fromUrl = new URLSearchParams(window.location.search).get("token");
    if (fromUrl) localStorage.setItem(TOKEN_KEY, fromUrl);
    return fromUrl ?? localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** Tauri inside the desktop window, HTTP + WebSocket in a browser. */
export function createTransport(): Transport {
  if (typeof window !== "undefined" && window.__TAURI_INTERNALS__) return new TauriTransport();
  return new HttpTransport("", token());
}
