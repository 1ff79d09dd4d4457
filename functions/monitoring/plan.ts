/** Step 1 of the drift check: the window, the production version and baseline, what to read. */
import { type FeedbackRecord, feedbackRecordOf } from '../contracts/capture.ts';
import { latestOutcomes } from '../inference/capture.ts';
import { type CheckPlan, type CheckRequest, HOUR_MS, type MonitoringDependencies, refOf } from './types.ts';

/** Step 1: what to read. */
export async function planCheck(request: CheckRequest, deps: MonitoringDependencies): Promise<CheckPlan> {
  const { settings } = request;
  const to = request.asOf ? new Date(request.asOf) : (deps.now?.() ?? new Date());
  const from = new Date(to.getTime() - settings.windowHours * HOUR_MS);
  const window = { from: from.toISOString(), to: to.toISOString() };
  const production = (await deps.registry.aliasesOrNone(settings.model)).production;
  const version = production === undefined ? undefined : await deps.registry.get(settings.model, production);
  const profileSha = version?.metadata.tags.profile;
  if (production === undefined || !profileSha) return { settings, window, hours: [], feedbackRecords: 0 };
  const range = { from, to };
  const [predictionFiles, feedbackFiles] = await Promise.all([
    deps.captures.files(settings.model, 'prediction', range),
    deps.captures.files(settings.model, 'feedback', range),
  ]);
  const hours = [
    ...new Set(
      predictionFiles.flatMap((key) => {
        const m = /\/date=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\//.exec(key);
        return m ? [`${m[1]}T${m[2]}:00:00.000Z`] : [];
      }),
    ),
  ].sort();
  const reports: FeedbackRecord[] = [];
  for (const key of feedbackFiles) {
    for (const line of await deps.captures.readFile(key)) {
      const r = feedbackRecordOf(line);
      if (!r || r.model !== settings.model || r.timestamp < window.from || r.timestamp > window.to) continue;
      reports.push(r);
    }
  }
  const feedbackRecords = reports.length;
  const latest = latestOutcomes(reports);
  const ids = [...latest.keys()].sort();
  const outcomes = await deps.lineage.putJson('drift', {
    format: 'keel.outcomes/v1',
    ids,
    outcomes: ids.map((id) => (latest.get(id) as FeedbackRecord).outcome),
  });
  return {
    settings,
    window,
    production: { version: production, baseline: { kind: 'profiles', sha256: profileSha } },
    hours,
    outcomes: refOf(outcomes),
    feedbackRecords,
    outcomeIds: ids.length,
  };
}
