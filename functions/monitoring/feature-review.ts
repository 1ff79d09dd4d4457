/**
 * The stale-feature review of a model's production version, as the schedule, `keel features
 * review` and the feature-review function run it:
 *
 * 1. the version's training-time importance (its manifest in lineage, recorded by training);
 * 2. recent labelled decisions (captures joined with outcomes, `windowDays` back);
 * 3. the same importance on them through the version's own ONNX model, and, with its explainer,
 *    mean |SHAP| on both sides and each column's weight in the outcomes;
 * 4. the verdicts (`core/explain/feature-review.ts`), stored in lineage, recorded in the version's
 *    audit log (`FeaturesReviewed`), put in a regenerated model card, and announced on the bus;
 *    with `retrainWithout`, a second event asks the retraining rule for a candidate without the
 *    flagged columns.
 *
 * Too few labelled decisions, or a version trained before training recorded its importance,
 * end the review with the reason and flag nothing: a review never guesses.
 */
import type { FeatureReviewSettings } from '../contracts/monitoring.ts';
import { FEATURES_REVIEWED_EVENT, RETRAIN_WITHOUT_EVENT } from '../contracts/monitoring.ts';
import type { Table } from '../core/data/table.ts';
import { outcomeWeights } from '../core/explain/drift-attribution.ts';
import { tableOfInstances } from '../core/explain/explainer.ts';
import {
  type FeatureReview,
  type ImportanceSummary,
  importanceSummary,
  meanAbsShapWithError,
  outcomeShapes,
  reviewFeatures,
} from '../core/explain/feature-review.ts';
import { permutationImportance } from '../core/explain/importance.ts';
import { OnnxModel } from '../core/onnx/runtime.ts';
import { Rng } from '../core/random.ts';
import type { Manifest } from '../core/training/train.ts';
import { takeRows } from '../core/training/train.ts';
import { joinOutcomes, labelledTable } from '../inference/capture.ts';
import type { ArtifactRef, LineageStore } from '../lineage/store.ts';
import type { CaptureReader } from '../ports/capture.ts';
import type { EventBus } from '../ports/event-bus.ts';
import { recordModelCard } from '../registry/card-record.ts';
import { loadModelExplainer } from '../registry/explainers.ts';
import type { ModelRegistry } from '../registry/registry.ts';

/** The actor of scheduled reviews in the audit log. */
export const FEATURE_REVIEW_ACTOR = 'keel-feature-review';

/** Rows explained for mean |SHAP| and the outcome weights: enough for their intervals, bounded. */
const EXPLAINED_ROWS = 2000;

export interface FeatureReviewDependencies {
  readonly registry: ModelRegistry;
  readonly lineage: LineageStore;
  readonly captures: CaptureReader;
  readonly eventBus: EventBus;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

export interface FeatureReviewRequest {
  readonly settings: FeatureReviewSettings;
  /** End of the window. @default now */
  readonly asOf?: string;
  /** The version reviewed. @default the `production` alias */
  readonly version?: number;
  /** Who asked (the CLI's user). @default the scheduled reviewer */
  readonly actor?: string;
}

/** The stored report (lineage `records/`, `format: keel.feature-review/v1`). */
export interface FeatureReviewReport {
  readonly format: 'keel.feature-review/v1';
  readonly model: string;
  readonly version: number;
  readonly asOf: string;
  readonly window: { readonly from: string; readonly to: string };
  readonly labelledRows: number;
  readonly review: FeatureReview;
  /** Columns a candidate should drop (stale, costly, personal data for little importance). */
  readonly drop: readonly string[];
}

export type FeatureReviewOutcome =
  | {
      readonly status: 'reviewed';
      readonly model: string;
      readonly version: number;
      readonly report: FeatureReviewReport;
      readonly ref: ArtifactRef;
      /** Whether the review asked for a retrain without `report.drop`. */
      readonly retrainRequested: boolean;
    }
  | {
      readonly status: 'skipped';
      readonly model: string;
      readonly version?: number;
      readonly reason: string;
      readonly labelledRows?: number;
    };

/** What the review function answers: the verdicts and where the report is, not the report. */
export type FeatureReviewSummary =
  | {
      readonly status: 'reviewed';
      readonly model: string;
      readonly version: number;
      readonly report: string;
      readonly flagged: readonly string[];
      readonly stale: readonly string[];
      readonly drop: readonly string[];
      readonly summary: string;
      readonly retrainRequested: boolean;
    }
  | Extract<FeatureReviewOutcome, { readonly status: 'skipped' }>;

export function summariseReview(outcome: FeatureReviewOutcome): FeatureReviewSummary {
  if (outcome.status === 'skipped') return outcome;
  const { review, drop } = outcome.report;
  return {
    status: outcome.status,
    model: outcome.model,
    version: outcome.version,
    report: outcome.ref.uri,
    flagged: review.flagged,
    stale: review.stale,
    drop,
    summary: review.summary,
    retrainRequested: outcome.retrainRequested,
  };
}

/** Seeded rows of a table, at most `n`, in table order. */
function sample(table: Table, n: number, seed: number): { table: Table; rows: number[] } {
  if (table.rowCount <= n) return { table, rows: Array.from({ length: table.rowCount }, (_, i) => i) };
  const rows = Array.from(new Rng(seed).permutation(table.rowCount).subarray(0, n)).sort((a, b) => a - b);
  return { table: takeRows(table, rows), rows };
}

export async function runFeatureReview(
  request: FeatureReviewRequest,
  deps: FeatureReviewDependencies,
): Promise<FeatureReviewOutcome> {
  const { settings } = request;
  const model = settings.model;
  const asOf = new Date(request.asOf ?? (deps.now ?? (() => new Date()))());
  const versionNumber = request.version ?? (await deps.registry.aliasesOrNone(model)).production;
  if (versionNumber === undefined)
    return { status: 'skipped', model, reason: `${model} has no production version to review` };
  const version = await deps.registry.get(model, versionNumber);
  const manifestSha = version.metadata.tags.manifest;
  const manifest = manifestSha
    ? await deps.lineage.getJson<Manifest>({ kind: 'records', sha256: manifestSha })
    : undefined;
  const training = manifest?.importance;
  if (!manifest || !training)
    return {
      status: 'skipped',
      model,
      version: versionNumber,
      reason: `v${versionNumber} has no importance recorded at training (trained before the review existed, or elsewhere): retrain it to review it`,
    };

  const from = new Date(asOf.getTime() - settings.windowDays * 86_400_000);
  const captured = await deps.captures.read(model, { from, to: asOf });
  const labelled = joinOutcomes(captured.predictions, captured.feedback, settings.maxRows);
  if (labelled.length < settings.minLabelledRows)
    return {
      status: 'skipped',
      model,
      version: versionNumber,
      labelledRows: labelled.length,
      // Locally the window shrinks with the time scale: not a whole number of days.
      reason: `${labelled.length} labelled decisions in the last ${Number(settings.windowDays.toPrecision(3))} days; the review needs ${settings.minLabelledRows}`,
    };
  // The model's inputs only: every column is copied once per shuffle of every other.
  const table = labelledTable(
    labelled,
    Object.fromEntries(manifest.schema.inputs.map((i) => [i.name, i.type])),
    settings.label,
  );
  const labels = Float64Array.from(labelled, (r) => r.outcome);
  if (labels.every((y) => y === labels[0]))
    return {
      status: 'skipped',
      model,
      version: versionNumber,
      labelledRows: labelled.length,
      reason: 'every labelled decision had the same outcome: no AUC to lose',
    };

  const bytes = await deps.lineage.getBytes({ kind: 'models', sha256: version.metadata.artifact.sha256 });
  const onnx = await OnnxModel.load(bytes);
  let production: ImportanceSummary;
  try {
    const result = await permutationImportance(
      async (t) => (await onnx.scoreTable(t)).probabilities,
      table,
      labels,
      {
        repeats: settings.repeats,
        seed: asOf.getTime() % 2_147_483_647,
        columns: training.columns.map((c) => c.column),
        costs: settings.costs,
      },
    );
    production = importanceSummary(result, table.rowCount, settings.repeats);
  } finally {
    await onnx.release();
  }

  const explainer = await loadModelExplainer(deps.lineage, version, bytes);
  let shap: Parameters<typeof reviewFeatures>[0]['shap'];
  let weights: Parameters<typeof reviewFeatures>[0]['weights'];
  let shapes: Parameters<typeof reviewFeatures>[0]['shapes'];
  if (explainer) {
    const explained = sample(table, EXPLAINED_ROWS, 1);
    const current = explainer.explain(explained.table);
    const { reference, background } = explainer.artifact;
    const trainingRows = explainer.explain(
      tableOfInstances(reference ?? background, explainer.artifact.pipeline.inputs),
    );
    shap = { training: meanAbsShapWithError(trainingRows), production: meanAbsShapWithError(current) };
    const names = Object.keys(current.rows[0]?.contributions ?? {});
    const outcomes = explained.rows.map((i) => labels[i] as number);
    if (!outcomes.every((y) => y === outcomes[0])) {
      weights = outcomeWeights(current, outcomes, names).columns;
      shapes = outcomeShapes(current, outcomes, names);
    }
  }

  const review = reviewFeatures(
    { training, production, ...(shap ? { shap } : {}), weights, shapes },
    settings.policy,
  );
  const drop = review.features
    .filter((f) => f.flags.some((flag) => flag !== 'unstable'))
    .map((f) => f.column);
  const report: FeatureReviewReport = {
    format: 'keel.feature-review/v1',
    model,
    version: versionNumber,
    asOf: asOf.toISOString(),
    window: { from: from.toISOString(), to: asOf.toISOString() },
    labelledRows: labelled.length,
    review,
    drop,
  };
  const ref = await deps.lineage.putJson('records', report);
  const actor = request.actor ?? FEATURE_REVIEW_ACTOR;
  await deps.registry.recordFeatureReview(
    model,
    versionNumber,
    {
      sha256: ref.sha256,
      uri: ref.uri,
      asOf: report.asOf,
      rows: labelled.length,
      flagged: Object.fromEntries(
        review.features.filter((f) => f.flags.length > 0).map((f) => [f.column, [...f.flags]]),
      ),
      summary: review.summary,
    },
    { actor, reason: `stale-feature review: ${review.summary}` },
  );
  // The card states what the review found ("known biases"); regenerated so it says so now.
  await recordModelCard(deps, model, versionNumber, { trigger: 'feature-review', actor });
  const retrainRequested = settings.retrainWithout && drop.length > 0;
  await deps.eventBus.publish([
    {
      source: FEATURES_REVIEWED_EVENT.source,
      detailType: FEATURES_REVIEWED_EVENT.detailType,
      detail: {
        model,
        version: versionNumber,
        flagged: review.flagged,
        stale: review.stale,
        summary: review.summary,
        report: ref.uri,
      },
    },
    ...(retrainRequested
      ? [
          {
            source: RETRAIN_WITHOUT_EVENT.source,
            detailType: RETRAIN_WITHOUT_EVENT.detailType,
            detail: {
              model,
              without: drop,
              reason: `feature review of v${versionNumber}: ${review.summary}`,
            },
          },
        ]
      : []),
  ]);
  return { status: 'reviewed', model, version: versionNumber, report, ref, retrainRequested };
}
