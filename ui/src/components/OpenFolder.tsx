// 폴더 열기: a row's file in the desktop's file manager (Explorer with the file selected). The
// web UI has no desktop to open, so the button is only in the app; the engine answers only
// paths inside the archive.
import { useState } from "react";
import { useLang } from "../i18n";
import { useAppIfAny } from "../state/app";
import { Glyph } from "./Glyph";
import { cx } from "./ui";

export function OpenFolder({ path, compact = false }: { path: string; compact?: boolean }) {
  const { t } = useLang();
  const api = useAppIfAny()?.api;
  const [note, setNote] = useState<string | null>(null);
  if (api?.kind !== "tauri") return null;
  const label = t("폴더 열기", "Open folder");
  const open = () =>
    void api.openContainingFolder(path).then(
      (r) => {
        if (!r) return setNote(null);
        if (!r.opened) setNote(t(`파일 탐색기를 열 수 없습니다: ${r.folder}`, `Could not start the file manager: ${r.folder}`));
        else if (!r.exists) setNote(t(`파일이 없어 상위 폴더를 열었습니다: ${r.folder}`, `The file is gone; opened ${r.folder}`));
        else setNote(null);
      },
      () => setNote(t("보관소 안의 경로가 아니어서 열 수 없습니다", "Not a path inside the archive")),
    );
  return (
    <button
      type="button"
      data-testid="open-folder"
      title={note ?? label}
      aria-label={label}
      onClick={open}
      className={cx(
        "shrink-0 rounded px-1 text-xs hover:text-blue-600 focus:opacity-100",
        compact ? "text-slate-400 opacity-0 group-hover:opacity-100" : "text-slate-500",
        note && "text-amber-600 opacity-100",
      )}
    >
      <Glyph of="📂" />
      {!compact && <span className="ml-1">{label}</span>}
      {note && (
        <span className="ml-1 text-amber-600" data-testid="open-folder-note">
          {note}
        </span>
      )}
    </button>
  );
}
