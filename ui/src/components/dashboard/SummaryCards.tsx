// The summary row: Source, Target, what is excluded or pending, and the sync card.
import type { Dashboard as DashboardData } from "../../api";
import { formatBytes, formatDateTime, formatNumber, formatPercent, relativeTime } from "../../format";
import { collisionHelp, useLang } from "../../i18n";
import { useApp } from "../../state/app";
import { useMatchingFacets, type SyncMutation } from "../../state/queries";
import { navigate } from "../../state/router";
import { Button, Card } from "../ui";
import { Glyph } from "../Glyph";

function Stat({ value, label, testId }: { value: number; label: string; testId: string }) {
  const { lang } = useLang();
  return (
    <div>
      <div className="tabular text-3xl font-bold" data-testid={testId} data-value={value}>
        {formatNumber(value, lang)}
      </div>
      <div className="text-sm text-slate-500 dark:text-slate-400">{label}</div>
    </div>
  );
}

export function SummaryCards({ d, sync }: { d: DashboardData; sync: SyncMutation }) {
  const { t, lang } = useLang();
  const { status } = useApp();
  const last = d.sync_status.last_result;
  const running = d.sync_status.is_running || status?.job != null;
  // Name collisions come with the filters' values (computed apart from the dashboard's numbers).
  const collisions = useMatchingFacets().data?.name_collisions ?? 0;
  return (
    <div className="grid items-stretch gap-4 md:grid-cols-[1fr_auto_1fr_1fr_1fr]">
      <Card icon={<Glyph of="📂" />} title={t("NAS 아카이브 (원본)", "NAS archive (Source)")}>
        <Stat value={d.source.total_files} label={t("전체 파일", "files")} testId="source-total" />
        <p className="mt-2 truncate text-xs text-slate-500" title={d.source.db_path}>
          {t("총 용량", "Total size")} {formatBytes(d.source.total_size_bytes)}
        </p>
        {d.source.pending_delete > 0 && (
          <p className="mt-1 text-xs text-amber-700 dark:text-amber-300" data-testid="source-pending-delete">
            {t(
              `삭제 대기 ${formatNumber(d.source.pending_delete, lang)}건 (NAS에서 ${d.source.delete_after_missing_scans}회 연속 보이지 않으면 삭제)`,
              `${formatNumber(d.source.pending_delete, lang)} waiting for deletion (deleted once missing from ${d.source.delete_after_missing_scans} scans in a row)`,
            )}
          </p>
        )}
      </Card>
      <div aria-hidden className="hidden items-center text-2xl text-slate-400 md:flex">
        →
      </div>
      <Card icon={<Glyph of="📺" />} title={t("OTT 플랫폼 (대상)", "OTT platform (Target)")}>
        <Stat value={d.target.total_files} label={t("HLS 등록", "HLS registered")} testId="target-total" />
        <p className="mt-2 truncate text-xs text-slate-500" title={d.target.db_path}>
          {t("NAS 아카이브 파일 대비", "of the NAS archive's files")} {formatPercent(d.target.hls_ratio)}
        </p>
        {d.target.network_fs && (
          <p
            role="note"
            data-testid="target-network-fs"
            className="mt-2 rounded bg-amber-50 p-2 text-xs text-amber-800 dark:bg-amber-950 dark:text-amber-200"
            title={d.target.db_path}
          >
            <Glyph of="⚠️" />{" "}
            {t(
              `OTT 플랫폼 카탈로그 파일이 네트워크 파일 시스템(${d.target.network_fs})에 있습니다. 여러 컴퓨터가 함께 쓰면 손상될 수 있으니 이 파일을 쓰는 프로그램이 하나인지 확인하고, WAL 모드는 켜지 마세요.`,
              `pokervod.db is on a network file system (${d.target.network_fs}); writers on several computers can corrupt it. Make sure one program writes it, and keep WAL off.`,
            )}
          </p>
        )}
      </Card>
      <Card icon={<Glyph of="⚠️" />} title={t("제외됨", "Excluded")}>
        <dl className="grid grid-cols-[1fr_auto] gap-y-1 text-sm">
          <dt className="text-slate-500">{t("비호환 영상 (mxf 등)", "Non-HLS videos (mxf, …)")}</dt>
          <dd className="tabular text-right font-semibold" data-testid="excluded-non-hls">
            {formatNumber(d.target.excluded.non_hls, lang)}
          </dd>
          <dt className="text-slate-500" title={t("영상이 아닌 파일은 OTT 플랫폼에 올리지 않습니다", "Files that are not videos are not published")}>
            {t("자막·기타 파일", "Subtitles and other files")}
          </dt>
          <dd className="tabular text-right font-semibold" data-testid="excluded-other">
            {formatNumber((d.source.by_type.subtitle ?? 0) + (d.source.by_type.other ?? 0), lang)}
          </dd>
          <dt className="text-slate-500">{t("중복 (같은 이름)", "Duplicates (same name)")}</dt>
          <dd className="tabular text-right font-semibold" data-testid="excluded-duplicates">
            {formatNumber(d.target.excluded.duplicates, lang)}
          </dd>
          <dt className="text-slate-500">{t("반영 대기 (신규·변경)", "Pending (new·changed)")}</dt>
          <dd className="tabular text-right font-semibold" data-testid="pending-count">
            {formatNumber(d.matching.new + d.matching.changed, lang)}
          </dd>
          <dt className="text-slate-500" title={t("복사가 끝나 파일이 바뀌지 않으면 동기화됩니다", "Synced once the copy has finished and the file stops changing")}>
            {t("복사 중 (보류)", "Copying (held)")}
          </dt>
          <dd className="tabular text-right font-semibold" data-testid="copying-count">
            {formatNumber(d.matching.copying, lang)}
          </dd>
        </dl>
        {collisions > 0 && (
          <a
            href="matching?collision=1"
            data-testid="dashboard-collisions"
            data-count={collisions}
            title={collisionHelp(t)}
            onClick={(e) => {
              e.preventDefault();
              navigate("matching", { collision: "1" });
            }}
            className="mt-3 block rounded-lg bg-amber-50 px-2 py-1.5 text-sm font-semibold text-amber-800 hover:bg-amber-100 dark:bg-amber-950 dark:text-amber-200"
          >
            <Glyph of="⚠️" />{" "}
            {t(
              `같은 이름 다른 크기 ${formatNumber(collisions, lang)}건`,
              `${formatNumber(collisions, lang)} with the same name, different size`,
            )}{" "}
            →
          </a>
        )}
      </Card>
      <Card icon={<Glyph of="🔄" />} title={t("동기화", "Sync")}>
        <div className="flex flex-col gap-2">
          <Button
            variant="primary"
            data-testid="sync-card-run"
            disabled={running || sync.isPending}
            onClick={() => sync.mutate(null)}
          >
            {running ? t("진행 중…", "Running…") : t("실행", "Run")}
          </Button>
          <p className="text-xs text-slate-500" data-testid="last-sync-time">
            {d.sync_status.last_sync_time
              ? `${formatDateTime(d.sync_status.last_sync_time)} · ${relativeTime(d.sync_status.last_sync_time, Date.now(), lang)}`
              : t("아직 동기화하지 않았습니다", "Not synced yet")}
          </p>
          {last && (
            <p className="text-xs text-slate-500">
              {t("추가", "added")} {last.added} · {t("변경", "updated")} {last.updated} ·{" "}
              {t("이동", "moved")} {last.moved} · {t("삭제", "deleted")} {last.deleted}
              {last.errors > 0 && (
                <span className="text-red-600"> · {t("에러", "errors")} {last.errors}</span>
              )}
            </p>
          )}
          {d.sync_status.problems > 0 && (
            <a
              href="problems"
              data-testid="sync-card-problems"
              onClick={(e) => {
                e.preventDefault();
                navigate("problems");
              }}
              className="rounded-lg bg-amber-50 px-2 py-1.5 text-sm font-semibold text-amber-800 hover:bg-amber-100 dark:bg-amber-950 dark:text-amber-200"
            >
              <Glyph of="⚠️" /> {t(`문제 ${formatNumber(d.sync_status.problems, lang)}건`, `${formatNumber(d.sync_status.problems, lang)} problems`)} →
            </a>
          )}
        </div>
      </Card>
    </div>
  );
}
