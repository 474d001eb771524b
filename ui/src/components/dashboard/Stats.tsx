// The figures below the actions: files per catalog, formats and sizes.
import type { Dashboard as DashboardData } from "../../api";
import { formatBytes, formatNumber, formatPercent, topCatalogs } from "../../format";
import { useLang } from "../../i18n";
import { navigate } from "../../state/router";
import { Badge, Card, cx } from "../ui";
import { Glyph } from "../Glyph";

export function CatalogStats({ d }: { d: DashboardData }) {
  const { t, lang } = useLang();
  const rows = topCatalogs(d.catalogs, 6);
  const max = Math.max(1, ...rows.map((r) => r.count));
  return (
    <Card icon={<Glyph of="📁" />} title={t("카탈로그별 파일 수", "Files per catalog")} testId="catalog-stats">
      {rows.length === 0 ? (
        <p className="text-sm text-slate-500">{t("파일이 없습니다", "No files")}</p>
      ) : (
        <ul className="flex flex-col gap-2">
          {rows.map((r) => (
            <li key={r.other ? "__other" : r.id}>
              <a
                href={r.other ? undefined : `matching?catalog=${encodeURIComponent(r.id)}`}
                onClick={(e) => {
                  e.preventDefault();
                  if (!r.other) navigate("matching", { catalog: r.id });
                }}
                className={cx(
                  "grid grid-cols-[7rem_1fr_4rem] items-center gap-3 text-sm",
                  !r.other && "cursor-pointer hover:opacity-80",
                )}
                data-testid="catalog-bar"
                data-catalog={r.other ? "기타" : r.id}
                data-count={r.count}
              >
                <span className="truncate font-medium" title={r.id}>
                  {r.other ? t("기타", "Other") : r.id}
                </span>
                <span className="h-3 rounded-full bg-slate-100 dark:bg-slate-800">
                  <span
                    className={cx("block h-3 rounded-full", r.other ? "bg-slate-400" : "bg-blue-500")}
                    style={{ width: `${Math.max(2, (r.count / max) * 100)}%` }}
                  />
                </span>
                <span className="tabular text-right">{formatNumber(r.count, lang)}</span>
              </a>
            </li>
          ))}
        </ul>
      )}
    </Card>
  );
}

export function FormatStats({ d }: { d: DashboardData }) {
  const { t, lang } = useLang();
  const videos = d.source.by_type.video ?? 0;
  const nonHls = d.target.excluded.non_hls;
  const transcode = d.target.needs_transcode;
  const hls = Math.max(0, videos - nonHls - transcode);
  const part = (n: number) => (videos ? n / videos : 0);
  const rows = [
    { key: "hls", label: t("HLS 호환", "HLS compatible"), n: hls, color: "bg-emerald-500" },
    {
      key: "transcode",
      label: t("코덱 변환 필요 (HLS 확장자)", "Codec needs transcoding (HLS extension)"),
      n: transcode,
      color: "bg-amber-400",
    },
    { key: "non-hls", label: t("변환 필요 (mxf 등)", "Needs conversion (mxf, …)"), n: nonHls, color: "bg-red-400" },
  ];
  return (
    <Card
      icon={<Glyph of="🎞️" />}
      title={t(`영상 포맷 (영상 ${formatNumber(videos, lang)}개 기준) · 용량`, `Video formats (of ${formatNumber(videos, lang)} videos) · size`)}
      testId="format-stats"
    >
      <div className="flex h-3 overflow-hidden rounded-full bg-slate-100 dark:bg-slate-800" aria-hidden>
        {rows.map((r) => (
          <span key={r.key} className={r.color} style={{ width: `${part(r.n) * 100}%` }} />
        ))}
      </div>
      <ul className="mt-3 flex flex-col gap-1.5 text-sm">
        {rows.map((r) => (
          <li key={r.key} className="flex items-center gap-2" data-testid={`format-${r.key}`}>
            <span aria-hidden className={cx("h-2.5 w-2.5 rounded-full", r.color)} />
            <span className="flex-1">{r.label}</span>
            <span className="tabular font-semibold">{formatNumber(r.n, lang)}</span>
            <span className="tabular w-12 text-right text-slate-500">{formatPercent(part(r.n))}</span>
          </li>
        ))}
      </ul>
      <dl className="mt-4 grid grid-cols-2 gap-3 border-t border-slate-100 pt-3 text-sm dark:border-slate-800">
        <div>
          <dt className="text-slate-500">{t("총 용량", "Total size")}</dt>
          <dd className="font-semibold" data-testid="total-size">
            {formatBytes(d.source.total_size_bytes)}
          </dd>
        </div>
        <div>
          <dt className="text-slate-500">{t("OTT 플랫폼 포맷", "OTT platform formats")}</dt>
          <dd className="flex flex-wrap gap-1">
            {Object.entries(d.target.by_format).map(([f, n]) => (
              <Badge key={f}>
                {f} {formatNumber(n, lang)}
              </Badge>
            ))}
          </dd>
        </div>
        <div>
          <dt className="text-slate-500">{t("영상 · 자막 · 기타", "Video · subtitles · other")}</dt>
          <dd className="tabular font-semibold">
            {formatNumber(videos, lang)} · {formatNumber(d.source.by_type.subtitle ?? 0, lang)} ·{" "}
            {formatNumber(d.source.by_type.other ?? 0, lang)}
          </dd>
        </div>
        <div>
          <dt className="text-slate-500" title={d.source.db_path}>{t("원본 목록 파일", "Source list file")}</dt>
          <dd className="font-semibold">{d.source.db_size_mb} MB</dd>
        </div>
      </dl>
    </Card>
  );
}
