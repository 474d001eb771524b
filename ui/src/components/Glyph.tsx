// The UI's icons: bundled SVGs (lucide), so every machine shows the same picture (an emoji needs
// a colour emoji font, and without one every icon is a blank box). The emoji names the icon in
// the code, where it reads as what it shows; the SVG is 1em, so it sizes with the text around
// it, and takes the text's colour.
import {
  CircleCheck,
  CircleX,
  CornerUpRight,
  Database,
  Feather,
  Film,
  FileText,
  Folder,
  FolderOpen,
  FolderSearch,
  FlaskConical,
  Hand,
  History,
  Hourglass,
  Inbox,
  KeyRound,
  LayoutDashboard,
  Lock,
  LockKeyhole,
  Monitor,
  Pencil,
  Plus,
  RefreshCw,
  RotateCcw,
  ScrollText,
  Search,
  ServerOff,
  Settings,
  ShieldCheck,
  Sparkles,
  Table2,
  Timer,
  Trash2,
  TriangleAlert,
  Tv,
  Unplug,
  Zap,
  type LucideIcon,
} from "lucide-react";

const ICONS = {
  "⚠️": TriangleAlert,
  "✅": CircleCheck,
  "❌": CircleX,
  "🔄": RefreshCw,
  "🗑️": Trash2,
  "🔑": KeyRound,
  "📂": FolderOpen,
  "📁": Folder,
  "🗃️": FolderSearch,
  "🔒": Lock,
  "🔐": LockKeyhole,
  "🔌": Unplug,
  "📺": Tv,
  "📡": ServerOff,
  "🎞️": Film,
  "➕": Plus,
  "🆕": Sparkles,
  "🛡️": ShieldCheck,
  "🗂️": Table2,
  "📜": ScrollText,
  "📋": History,
  "⚙️": Settings,
  "🧪": FlaskConical,
  "🗄️": Database,
  "🖥️": Monitor,
  "🕊️": Feather,
  "🔎": Search,
  "🔍": Search,
  "📭": Inbox,
  "📊": LayoutDashboard,
  "📄": FileText,
  "👋": Hand,
  "✏️": Pencil,
  "⚡": Zap,
  "♻️": RotateCcw,
  "↪️": CornerUpRight,
  "⏳": Hourglass,
  "⏱️": Timer,
} satisfies Record<string, LucideIcon>;

export type GlyphName = keyof typeof ICONS;

/** The icon `of` names, inline, 1em square, in the text's colour; hidden from screen readers
 * (the text next to it says the same). */
export function Glyph({ of, className }: { of: GlyphName; className?: string }) {
  const I = ICONS[of];
  return <I aria-hidden width="1em" height="1em" strokeWidth={2} className={className ?? "inline-block shrink-0 align-[-0.125em]"} />;
}
