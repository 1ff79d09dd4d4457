/**
 * Step 2 of the drift check: streams hour partitions of captured predictions, one file at a
 * time, into a profile of the inputs and one of the production version's scores, and joins
 * each prediction with its outcome.
 */
import { predictionRecordOf } from '../contracts/capture.ts';
import { CategoricalBuilder, NumericBuilder } from '../core/data/table.ts';
import { addTable, emptyProfileLike, finish, type Profile, rowPriority } from '../core/drift/profile.ts';
import { bucketOf } from '../core/search.ts';
import { SCORE_COLUMN } from '../core/training/train.ts';
import { ValidationError } from '../kernel/errors.ts';
import {
  ATTRIBUTION_LABELLED_ROWS,
  ATTRIBUTION_ROWS,
  type CheckPlan,
  HOUR_MS,
  type MonitoringDependencies,
  type PartialCheck,
  type Ref,
  type RowSample,
  refOf,
} from './types.ts';

type Row = Readonly<Record<string, number | string | null>>;

/** Keeps the rows of the `k` smallest priorities (a bottom-k sample, mergeable across partials). */
export class BottomK<T> {
  #items: { priority: number; item: T }[] = [];
  readonly k: number;

  constructor(k: number) {
    this.k = k;
  }

  /** The k-th smallest priority kept at the last cut: nothing above it can be kept any more. */
  #bound = Number.POSITIVE_INFINITY;

  /** Whether an item of this priority could be kept: ask first, so rows that cannot are never built. */
  accepts(priority: number): boolean {
    return priority < this.#bound;
  }

  add(priority: number, item: T): void {
    if (!this.accepts(priority)) return;
    this.#items.push({ priority, item });
    if (this.#items.length >= 2 * this.k) this.#cut();
  }

  #cut(): void {
    this.#items.sort((a, b) => a.priority - b.priority);
    if (this.#items.length >= this.k) {
      this.#items.length = this.k;
      this.#bound = (this.#items[this.k - 1] as { priority: number }).priority;
    }
  }

  items(): { priority: number; item: T }[] {
    this.#cut();
    return this.#items;
  }
}

/** Step 2: profiles the predictions of some hour partitions; returns the partial's address. */
export async function profilePartitions(
  input: { readonly plan: CheckPlan; readonly hours: readonly string[] },
  deps: MonitoringDependencies,
): Promise<{ partial: Ref; predictions: number; files: number }> {
  const { plan } = input;
  const production = plan.production;
  if (!production || !plan.outcomes)
    throw new ValidationError('Nothing to profile', [
      { path: 'plan.production', message: 'the plan has no production version with a baseline' },
    ]);
  const baseline = await deps.lineage.getJson<Profile>(production.baseline);
  const stored = await deps.lineage.getJson<{ ids: string[]; outcomes: (0 | 1)[] }>(plan.outcomes);
  const outcomes = new Map(stored.ids.map((id, i) => [id, stored.outcomes[i] as 0 | 1]));
  const inputs = emptyProfileLike(baseline);
  const scoreColumn = inputs.columns[SCORE_COLUMN];
  delete inputs.columns[SCORE_COLUMN];
  const scores: Profile = { format: 'keel.profile/v1', rows: 0, columns: {} };
  if (scoreColumn) scores.columns[SCORE_COLUMN] = scoreColumn;
  const columns = Object.entries(inputs.columns);
  const outcomeEdges = baseline.outcomes?.edges ?? [];
  const scoreCounts = new Array<number>(outcomeEdges.length + 1).fill(0);
  const labelled: [number, 0 | 1, 0 | 1, number][] = [];
  const sample = new BottomK<Row>(ATTRIBUTION_ROWS);
  const labelledSample = new BottomK<[Row, 0 | 1]>(ATTRIBUTION_LABELLED_ROWS);
  const modelInputs = columns.map(([name]) => name);
  const version = String(production.version);
  const { from, to } = plan.window;
  let predictions = 0;
  let files = 0;
  let matched = 0;
  for (const hour of input.hours) {
    const start = new Date(hour);
    const keys = await deps.captures.files(plan.settings.model, 'prediction', {
      from: start,
      to: new Date(start.getTime() + HOUR_MS - 1),
    });
    for (const key of keys) {
      files++;
      // One file at a time, as columns: the profile's column-wise path (typed arrays, row
      // priorities hashed from the file and row) — the path the drift benchmark measures.
      const builders = columns.map(([name, c]) => [
        name,
        c.kind === 'numeric' ? new NumericBuilder() : new CategoricalBuilder(),
      ]) as [string, NumericBuilder | CategoricalBuilder][];
      const scored = new NumericBuilder();
      let rows = 0;
      let scoredRows = 0;
      for (const line of await deps.captures.readFile(key)) {
        const r = predictionRecordOf(line);
        // Shadow scores are nobody's decision; other models' records never belong here.
        if (!r || r.model !== plan.settings.model || r.shadow_of !== undefined) continue;
        const at = r.timestamp;
        if (at < from || at > to) continue;
        const row: Readonly<Record<string, unknown>> = r.inputs;
        const out: { readonly probability?: unknown; readonly label?: unknown } = r.outputs;
        const priority = rowPriority(`${key}#${rows}`);
        const kept = () =>
          Object.fromEntries(
            modelInputs.map((name) => [name, (row[name] ?? null) as number | string | null]),
          );
        if (sample.accepts(priority)) sample.add(priority, kept());
        rows++;
        for (const [name, builder] of builders) {
          const value = row[name];
          if (builder instanceof NumericBuilder) builder.push(typeof value === 'number' ? value : Number.NaN);
          else builder.push(value === null || value === undefined || value === '' ? null : String(value));
        }
        const probability = typeof out?.probability === 'number' ? out.probability : Number.NaN;
        // Score drift is the production model's: a canary's or the fallback's scores are another model's.
        if (r.model_version === version && r.served_by === 'primary' && Number.isFinite(probability)) {
          scored.push(probability);
          scoredRows++;
          const k = bucketOf(outcomeEdges, probability);
          scoreCounts[k] = (scoreCounts[k] as number) + 1;
        }
        // Outcomes judge the production model's own decisions: a canary's, the fallback's or an
        // earlier version's are another model's.
        const outcome = outcomes.get(r.prediction_id);
        if (outcome !== undefined) matched++;
        const own = r.model_version === version && r.served_by === 'primary';
        if (outcome !== undefined && own && Number.isFinite(probability)) {
          labelled.push([probability, out?.label === 1 ? 1 : 0, outcome, Date.parse(at)]);
          if (labelledSample.accepts(priority)) labelledSample.add(priority, [kept(), outcome]);
        }
      }
      predictions += rows;
      addTable(
        inputs,
        { rowCount: rows, columns: new Map(builders.map(([name, b]) => [name, b.build()])) },
        key,
      );
      if (scoreColumn)
        addTable(scores, { rowCount: scoredRows, columns: new Map([[SCORE_COLUMN, scored.build()]]) }, key);
    }
  }
  const partial: PartialCheck = {
    format: 'keel.drift-partial/v1',
    predictions,
    files,
    inputs: finish(inputs),
    scores: finish(scores),
    scoreCounts,
    labelled,
    matched,
    sample: sampleOf(sample.items()),
    labelledSample: {
      ...sampleOf(labelledSample.items().map(({ priority, item }) => ({ priority, item: item[0] }))),
      outcomes: labelledSample.items().map(({ item }) => item[1]),
    },
  };
  return { partial: refOf(await deps.lineage.putJson('drift', partial)), predictions, files };
}

function sampleOf(items: readonly { priority: number; item: Row }[]): RowSample {
  return { priorities: items.map((i) => i.priority), rows: items.map((i) => i.item) };
}
