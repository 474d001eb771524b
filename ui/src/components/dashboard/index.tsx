// The dashboard: the Source → Target summary, the actions (and the job they follow), the
// per-catalog and per-format figures.
import { needsSetup } from "../../api";
import { useDashboard, useStartSync } from "../../state/queries";
import { ErrorPanel } from "../ErrorPanel";
import { Onboarding } from "../Onboarding";
import { Loading } from "../ui";
import { Actions } from "./Actions";
import { CatalogStats, FormatStats } from "./Stats";
import { SummaryCards } from "./SummaryCards";

export function Dashboard() {
  const q = useDashboard();
  // One sync mutation for the card's [실행] and the actions' 동기화 실행 (one error display).
  const sync = useStartSync();
  if (q.error && needsSetup(q.error)) return <Onboarding />;
  if (q.error && !q.data) return <ErrorPanel error={q.error} retry={() => void q.refetch()} />;
  if (!q.data) return <Loading />;
  const d = q.data;
  return (
    <div className="flex flex-col gap-4" data-testid="dashboard">
      <SummaryCards d={d} sync={sync} />
      <Actions sync={sync} />
      <div className="grid gap-4 lg:grid-cols-2">
        <CatalogStats d={d} />
        <FormatStats d={d} />
      </div>
    </div>
  );
}
