// App-wide state: the transport, the monitor status (asked first, then followed over the status
// stream), the connection to the server, and the live log (kept while other screens are open).
import { useQueryClient } from "@tanstack/react-query";
import {
  createContext,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from "react";
import { isUnauthorized, type Status, type StreamState, type Transport } from "../api";
import { LogStore } from "./logStore";

type AppCtx = {
  api: Transport;
  status: Status | null;
  /** False while the server cannot be reached (restarting); the screens show a banner. */
  online: boolean;
  /** The server wants its access token (the page was not opened from the printed address, or
   * the server restarted with a new one): the app shows how to sign in. */
  unauthorized: boolean;
  logs: LogStore;
  /** Subscribe to log store changes (for useSyncExternalStore). */
  subscribeLogs: (l: () => void) => () => void;
};

const HEALTH_EVERY_MS = 30_000;

const Ctx = createContext<AppCtx | null>(null);

/** What never changes while the app runs (the transport and the log store): components that
 * need only these do not re-render with every status change (the live log stays live when the
 * engine changes state many times a second). */
type StableCtx = Pick<AppCtx, "api" | "logs" | "subscribeLogs">;
const Stable = createContext<StableCtx | null>(null);
const Online = createContext<boolean>(true);

export function useApp(): AppCtx {
  const c = useContext(Ctx);
  if (!c) throw new Error("useApp outside AppProvider");
  return c;
}

function useStable(): StableCtx {
  const c = useContext(Stable);
  if (!c) throw new Error("useApi outside AppProvider");
  return c;
}

/** Whether the server can be reached (changes only when the connection does). */
export function useOnline(): boolean {
  return useContext(Online);
}

/** The app's context, or `null` where a component is drawn on its own (unit tests). */
export function useAppIfAny(): AppCtx | null {
  return useContext(Ctx);
}

export function useApi(): Transport {
  return useStable().api;
}

/** Log store changes as a subscribable counter (so only the log screen re-renders per line). */
function useLogs(api: Transport) {
  const store = useMemo(() => new LogStore(), []);
  const listeners = useRef(new Set<() => void>());
  useEffect(() => {
    let pending = false;
    const flush = () => {
      pending = false;
      for (const l of listeners.current) l();
    };
    return api.subscribeLogs(
      (line) => {
        if (store.push(line) && !pending) {
          pending = true;
          // Bursts of lines render once per frame.
          requestAnimationFrame(flush);
        }
      },
      (s) => {
        if (s === "open") store.connected();
      },
    );
  }, [api, store]);
  const subscribe = useMemo(
    () => (l: () => void) => {
      listeners.current.add(l);
      return () => {
        listeners.current.delete(l);
      };
    },
    [],
  );
  return { store, subscribe };
}

export function AppProvider({ api, children }: { api: Transport; children: ReactNode }) {
  const qc = useQueryClient();
  const [status, setStatus] = useState<Status | null>(null);
  const [stream, setStream] = useState<StreamState>("connecting");
  const [reachable, setReachable] = useState(true);
  const [unauthorized, setUnauthorized] = useState(false);
  const lastJob = useRef<number | null>(null);
  const { store, subscribe } = useLogs(api);

  useEffect(() => {
    let alive = true;
    let wasClosed = false;
    const apply = (s: Status) => {
      if (!alive) return;
      setStatus(s);
      const job = s.job?.id ?? null;
      // A job ended: everything the screens show may have changed.
      if (lastJob.current !== null && job !== lastJob.current) void qc.invalidateQueries();
      lastJob.current = job;
    };
    const ask = () =>
      api.status().then(
        (s) => {
          setReachable(true);
          setUnauthorized(false);
          apply(s);
        },
        (e: unknown) => {
          if (!alive) return;
          if (isUnauthorized(e)) {
            setReachable(true);
            setUnauthorized(true);
          } else setReachable(false);
        },
      );
    // The current state first, then its changes.
    void ask();
    const stop = api.subscribeStatus(apply, (st) => {
      if (!alive) return;
      setStream(st);
      if (st === "closed") {
        // Refused (a new launch token) or down (restarting): the status answer tells which
        // (asked once per reconnect attempt, so at most every 3 s).
        void ask();
        wasClosed = true;
      }
      if (st === "open") {
        // A change between the first answer and the subscription, or a server restart.
        void ask();
        if (wasClosed) {
          wasClosed = false;
          void qc.invalidateQueries();
        }
      }
    });
    // The engine looks at the root when asked for its health: a share that went away shows as
    // 에러 in the light within this period even without a sync.
    const health = setInterval(() => void api.health().catch(() => {}), HEALTH_EVERY_MS);
    return () => {
      alive = false;
      clearInterval(health);
      stop();
    };
  }, [api, qc]);

  const online = unauthorized || (reachable && stream !== "closed");
  const value = useMemo(
    () => ({ api, status, online, unauthorized, logs: store, subscribeLogs: subscribe }),
    [api, status, online, unauthorized, store, subscribe],
  );
  const stable = useMemo(() => ({ api, logs: store, subscribeLogs: subscribe }), [api, store, subscribe]);
  return (
    <Stable.Provider value={stable}>
      <Online.Provider value={online}>
        <Ctx.Provider value={value}>{children}</Ctx.Provider>
      </Online.Provider>
    </Stable.Provider>
  );
}

/** The log lines, re-rendering the caller once per frame of new lines. */
export function useLogLines() {
  const { logs, subscribeLogs } = useStable();
  useSyncExternalStore(subscribeLogs, () => logs.rev);
  return logs;
}
