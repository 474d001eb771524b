import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { JobInfo, Status, Transport } from "../api";
import { AppProvider } from "../state/app";
import { useLatestJobs } from "./jobs";

const idle: Status = { status: "ok", label: "정상", job: null, paused: false, last_error: null, last_sync: null, next_sync: null, problems: 0 };

function job(state: JobInfo["state"]): JobInfo {
  return {
    id: 1,
    kind: "sync",
    state,
    force: false,
    trigger: "manual",
    started_at: "2026-12-07T00:00:00Z",
    finished_at: state === "running" ? null : "2026-12-07T00:00:01Z",
    progress: { phase: "done", files_seen: 3, dirs_seen: 1, files_per_sec: 0, eta_sec: null, elapsed_ms: 100 },
    result: null,
    error: null,
  };
}

function LatestState() {
  const { latest } = useLatestJobs();
  return <span data-testid="state">{latest()?.state ?? "none"}</span>;
}

describe("the latest job", () => {
  it("does not stay 'running' when the job ended before the status stream showed it", async () => {
    // The jobs list was read while the job ran; the status never showed a running job (a 0.1 s
    // sync on a loaded machine), so no status change announces its end.
    let calls = 0;
    const api = {
      kind: "http",
      status: async () => idle,
      health: async () => ({ status: "ok", label: "정상", last_sync: null, last_error: null }),
      jobs: async () => [job(calls++ === 0 ? "running" : "succeeded")],
      subscribeStatus: () => () => {},
      subscribeLogs: () => () => {},
    } as unknown as Transport;
    render(
      <QueryClientProvider client={new QueryClient()}>
        <AppProvider api={api}>
          <LatestState />
        </AppProvider>
      </QueryClientProvider>,
    );
    expect(await screen.findByText("running")).toBeTruthy();
    expect(await screen.findByText("succeeded", undefined, { timeout: 5000 })).toBeTruthy();
    expect(calls).toBeGreaterThanOrEqual(2);
  });
});
