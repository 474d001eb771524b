// 문제 목록: what a scan could not read and what the Target refused, from the first time it was
// seen until it goes away. Each row says in the operator's language what is wrong and what to
// do; the engine's own words (English) are one click away for whoever fixes it.
import { useState } from "react";
import { needsSetup, type Problem, type ProblemKind } from "../api";
import { formatDateTime, formatNumber, relativeTime } from "../format";
import { useLang, type T } from "../i18n";
import { useApp } from "../state/app";
import { useProblems, useRetryProblem, useStartSync } from "../state/queries";
import { ErrorPanel } from "./ErrorPanel";
import { Onboarding } from "./Onboarding";
import { Badge, Button, Card, EmptyState, Spinner } from "./ui";
import { Glyph } from "./Glyph";
import { OpenFolder } from "./OpenFolder";

/** What the problem is, in a few words. */
export function problemLabel(k: ProblemKind, t: T): string {
  switch (k) {
    case "unreadable_dir":
      return t("폴더를 읽을 수 없음", "Folder cannot be read");
    case "unreadable_file":
      return t("파일 정보를 읽을 수 없음", "File cannot be read");
    case "invalid_name":
      return t("이름을 읽을 수 없어 건너뜀", "Name skipped");
    case "sync_failed":
      return t("OTT 플랫폼에 반영 실패", "Not written to the OTT platform");
  }
}

/** What it means and what to do about it. */
function problemAdvice(k: ProblemKind, t: T): string {
  switch (k) {
    case "unreadable_dir":
      return t(
        "NAS에서 이 폴더의 접근 권한을 확인하세요. 그동안 이 폴더에 있던 파일은 그대로 유지됩니다.",
        "Check this folder's permissions on the NAS. Meanwhile its files are kept as they were.",
      );
    case "unreadable_file":
      return t(
        "파일이 다른 프로그램에 열려 있거나 권한이 없는지 확인하세요. 이미 등록된 파일은 그대로 유지됩니다.",
        "Check whether another program holds the file or permissions forbid it. A file already registered is kept.",
      );
    case "invalid_name":
      return t(
        "파일 이름에 읽을 수 없는 문자가 있습니다. NAS에서 이름을 바꾸면 다음 동기화 때 등록됩니다.",
        "The name has characters that cannot be read. Rename it on the NAS; the next sync registers it.",
      );
    case "sync_failed":
      return t(
        "OTT 플랫폼의 카탈로그가 이 파일을 받아들이지 않았습니다. 아래 자세히 보기의 내용을 OTT 담당자에게 전달하세요. 다음 동기화 때 다시 시도합니다.",
        "The OTT platform's catalog refused this file. Pass the details below to whoever runs it; every sync tries again.",
      );
  }
}

function ProblemRow({ p, busy }: { p: Problem; busy: boolean }) {
  const { t, lang } = useLang();
  const [open, setOpen] = useState(false);
  const retry = useRetryProblem();
  const folder = p.kind === "unreadable_dir";
  const [copied, setCopied] = useState(false);
  const run =
    p.sync_id !== null
      ? t(`동기화 #${p.sync_id}`, `sync #${p.sync_id}`)
      : p.scan_id !== null
        ? t(`스캔 #${p.scan_id}`, `scan #${p.scan_id}`)
        : "";
  const copy = () => {
    void navigator.clipboard?.writeText(p.path).then(
      () => setCopied(true),
      () => setCopied(false),
    );
  };
  return (
    <li className="border-b border-slate-100 py-3 last:border-0 dark:border-slate-800" data-testid="problem-row" data-kind={p.kind}>
      <div className="flex flex-wrap items-start justify-between gap-2">
        <div className="min-w-0 flex-1">
          <div className="flex flex-wrap items-center gap-2">
            <Badge tone={p.kind === "sync_failed" ? "red" : "amber"}>{problemLabel(p.kind, t)}</Badge>
            <span className="break-all font-medium text-slate-800 dark:text-slate-100" data-testid="problem-path">
              {p.path}
            </span>
          </div>
          <p className="mt-1 text-sm text-slate-600 dark:text-slate-300" data-testid="problem-advice">
            {problemAdvice(p.kind, t)}
          </p>
          <p className="mt-1 text-xs text-slate-500">
            {t("처음 발견", "First seen")} {formatDateTime(p.since)} ({relativeTime(p.since, Date.now(), lang)}) ·{" "}
            {t("마지막 확인", "Last seen")} {formatDateTime(p.last_seen)}
            {run && ` · ${run}`}
          </p>
          {open && (
            <p className="mt-2 rounded bg-slate-50 p-2 font-mono text-xs break-words text-slate-700 dark:bg-slate-800 dark:text-slate-200" data-testid="problem-detail">
              {p.message}
            </p>
          )}
        </div>
        <div className="flex shrink-0 flex-wrap items-center justify-end gap-1">
          <Button
            size="sm"
            disabled={busy || retry.isPending}
            onClick={() => retry.mutate(p.id)}
            data-testid="problem-retry"
            title={t(
              folder
                ? "NAS에서 이 폴더만 다시 읽고 동기화합니다 (전체 스캔보다 빠릅니다)"
                : "NAS에서 이 파일이 있는 폴더만 다시 읽고 동기화합니다 (전체 스캔보다 빠릅니다)",
              folder
                ? "Reads only this folder on the NAS again, then syncs (faster than a full scan)"
                : "Reads only this file's folder on the NAS again, then syncs (faster than a full scan)",
            )}
          >
            <Glyph of="🔄" />{" "}
            {retry.isSuccess && busy
              ? t("다시 시도 중…", "Retrying…")
              : folder
                ? t("이 폴더 다시 읽기", "Read this folder again")
                : t("이 파일 다시 시도", "Retry this file")}
          </Button>
          <OpenFolder path={p.path} />
          <Button size="sm" variant="ghost" onClick={() => setOpen((o) => !o)} aria-expanded={open}>
            {open ? t("접기", "Hide details") : t("자세히 보기", "Details")}
          </Button>
          <Button size="sm" variant="ghost" onClick={copy} data-testid="problem-copy">
            {copied ? t("복사됨", "Copied") : t("경로 복사", "Copy path")}
          </Button>
        </div>
      </div>
    </li>
  );
}

export function Problems() {
  const { t, lang } = useLang();
  const { status } = useApp();
  const q = useProblems();
  const sync = useStartSync();
  if (q.error && needsSetup(q.error)) return <Onboarding />;
  const items = q.data?.items ?? [];
  const total = q.data?.total ?? 0;
  const running = status?.job != null;
  return (
    <Card
      icon={<Glyph of="⚠️" />}
      title={t(`문제 ${formatNumber(total, lang)}건`, `${formatNumber(total, lang)} problems`)}
      testId="problems"
      actions={
        total > 0 && (
          <Button
            size="sm"
            variant="primary"
            disabled={running || sync.isPending}
            onClick={() => sync.mutate(null)}
            data-testid="problems-retry"
            title={t(
              "NAS 전체를 다시 읽고 실패한 파일을 모두 다시 반영합니다",
              "Reads the whole NAS again and retries every file that failed",
            )}
          >
            {running ? t("진행 중…", "Running…") : t("모두 다시 시도 (동기화)", "Retry all (sync)")}
          </Button>
        )
      }
    >
      {q.isPending ? (
        <Spinner />
      ) : q.error ? (
        <ErrorPanel error={q.error} />
      ) : items.length === 0 ? (
        <EmptyState icon={<Glyph of="✅" />} title={t("문제가 없습니다", "No problems")} testId="problems-empty">
          {t(
            "NAS의 모든 폴더와 파일을 읽었고, OTT 플랫폼에 반영하지 못한 파일이 없습니다.",
            "Every folder and file on the NAS was read, and every file reached the OTT platform.",
          )}
        </EmptyState>
      ) : (
        <>
          <ul data-testid="problem-list">
            {items.map((p) => (
              <ProblemRow key={p.id} p={p} busy={running} />
            ))}
          </ul>
          {items.length < total && (
            <p className="mt-2 text-xs text-slate-500">
              {t(
                `최근 ${formatNumber(items.length, lang)}건만 표시합니다 (전체 ${formatNumber(total, lang)}건).`,
                `Showing the latest ${formatNumber(items.length, lang)} of ${formatNumber(total, lang)}.`,
              )}
            </p>
          )}
        </>
      )}
    </Card>
  );
}
