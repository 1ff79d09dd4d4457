/**
 * The evaluation of a candidate, as pure functions over scores: per-dataset reports at each
 * model's cost-minimising threshold, the paired AUC comparison, fairness per protected
 * attribute, the monotone constraints a candidate is held to, the three gates and the output
 * the state machine carries. `evaluateCandidate` in `steps.ts` scores the models, calls these,
 * and persists the report in one step.
 */
import type { GateRow, ParetoRow, RetrainingSettings } from '../contracts/retraining.ts';
import type { Column, Schema, Table } from '../core/data/table.ts';
import { type Profile, profileTable } from '../core/drift/profile.ts';
import { type EvaluationReport, evaluate } from '../core/evaluation/report.ts';
import { optimalThreshold } from '../core/metrics/cost.ts';
import { outcomeBaseline } from '../core/monitoring/outcomes.ts';
import { SCORE_COLUMN } from '../core/training/train.ts';
import type { ArtifactRef } from '../lineage/store.ts';
import { registryEvaluation } from '../registry/publish.ts';
import {
  type FairnessMeasure,
  fairnessGate,
  type PerformanceComparison,
  pairedAucDifference,
  performanceGate,
  type SafetyCheck,
  safetyGate,
} from './gates.ts';

/** One dataset's labels, protected groups and both models' scores on it. */
export interface DatasetScores {
  readonly name: 'holdout' | 'production';
  readonly y: Float64Array;
  /** Protected attribute → each row's group; empty when some attribute is unknown everywhere. */
  readonly groups: Readonly<Record<string, readonly (string | null)[]>>;
  readonly candidate: ArrayLike<number>;
  /** Absent when nothing is in production. */
  readonly production?: ArrayLike<number>;
}

export interface Compared {
  readonly reports: Record<string, { candidate: EvaluationReport; production: EvaluationReport | null }>;
  readonly comparisons: PerformanceComparison[];
  readonly fairness: FairnessMeasure[];
  /** Decision thresholds, each model's cost-minimising one on the first dataset (the holdout). */
  readonly thresholds: { candidate?: number; production?: number };
}

/** The cost-minimising threshold; 0.5 when flagging nobody is cheapest (no finite threshold). */
export function decisionThreshold(
  y: Float64Array,
  p: ArrayLike<number>,
  costs: RetrainingSettings['costs'],
): number {
  const { threshold } = optimalThreshold(y, p, costs);
  return Number.isFinite(threshold) ? threshold : 0.5;
}

function fairnessOf(report: EvaluationReport, attribute: string) {
  const f = report.fairness[attribute];
  return f
    ? { demographicParityRatio: f.demographicParityRatio, equalizedOddsDifference: f.equalizedOddsDifference }
    : undefined;
}

/** Reports, the paired comparison and fairness of candidate and production on each dataset. */
export function compareDatasets(
  datasets: readonly DatasetScores[],
  settings: Pick<RetrainingSettings, 'costs' | 'gates' | 'training'>,
  /**
   * The candidate's own decision threshold, when it declares one: a threshold-post-processed
   * model decides at 0.5 by construction, and a re-optimised threshold would undo its rule.
   */
  candidateThreshold?: number,
): Compared {
  const reports: Compared['reports'] = {};
  const comparisons: PerformanceComparison[] = [];
  const fairness: FairnessMeasure[] = [];
  const thresholds: Compared['thresholds'] =
    candidateThreshold !== undefined ? { candidate: candidateThreshold } : {};
  for (const { name, y, groups, candidate: c, production: p } of datasets) {
    const options = {
      costs: settings.costs,
      protected: groups as Record<string, (string | null)[]>,
      bootstrap: { samples: settings.gates.bootstrapSamples, seed: settings.training.seed },
    };
    const cScores = Array.from(c, (v) => (Number.isFinite(v) ? v : 0.5));
    // Threshold metrics and fairness at each model's cost-minimising threshold on the holdout:
    // the decisions the business takes with it, not an arbitrary 0.5 (at a 15 % prevalence
    // 0.5 selects a few percent, and a ratio of tiny selection rates is mostly noise).
    thresholds.candidate ??= decisionThreshold(y, cScores, settings.costs);
    if (p) thresholds.production ??= decisionThreshold(y, p, settings.costs);
    const candidateReport = evaluate(y, cScores, { ...options, threshold: thresholds.candidate });
    const productionReport = p
      ? evaluate(y, p, { ...options, threshold: thresholds.production ?? 0.5 })
      : null;
    reports[name] = { candidate: candidateReport, production: productionReport };
    const finite = Array.prototype.every.call(c, (v: number) => Number.isFinite(v));
    comparisons.push({
      dataset: name,
      candidateAuc: finite ? candidateReport.auc : Number.NaN,
      productionAuc: productionReport?.auc ?? null,
      paired:
        p && finite
          ? pairedAucDifference(y, c, p, {
              samples: settings.gates.bootstrapSamples,
              seed: settings.training.seed,
            })
          : null,
    });
    for (const attribute of Object.keys(groups)) {
      const cf = fairnessOf(candidateReport, attribute);
      if (!cf) continue;
      fairness.push({
        attribute,
        dataset: name,
        candidate: cf,
        production: productionReport ? (fairnessOf(productionReport, attribute) ?? null) : null,
      });
    }
  }
  return { reports, comparisons, fairness, thresholds };
}

/**
 * The monotone relations a candidate must keep: the configured ones, and those it was trained
 * with (`monotone.<column>` hyperparameters of numeric columns), the configured ones first.
 */
export function monotoneConstraints(
  configured: Readonly<Record<string, 1 | -1>>,
  hyperparameters: Readonly<Record<string, unknown>>,
  schema: Schema,
): Record<string, 1 | -1> {
  const monotone: Record<string, 1 | -1> = { ...configured };
  for (const [key, value] of Object.entries(hyperparameters)) {
    const column = key.startsWith('monotone.') ? key.slice('monotone.'.length) : undefined;
    if (column && schema[column] === 'numeric' && (value === 1 || value === -1)) monotone[column] ??= value;
  }
  return monotone;
}

/** The three gates over the comparisons and checks, and their rows in one table. */
export function judgeCandidate(
  compared: Pick<Compared, 'comparisons' | 'fairness'>,
  safety: readonly SafetyCheck[],
  gates: RetrainingSettings['gates'],
  drift: boolean,
) {
  const performance = performanceGate(compared.comparisons, {
    tolerance: gates.performanceTolerance,
    driftMargin: gates.driftMargin,
    driftHoldoutTolerance: gates.driftHoldoutTolerance,
    drift,
  });
  const fairness = fairnessGate(compared.fairness, gates);
  const safetyResult = safetyGate(safety);
  const table: GateRow[] = [...performance.rows, ...fairness.rows, ...safetyResult.rows];
  return { performance, fairness, safety: safetyResult, table };
}

/** What Evaluate hands the state machine: the gate verdicts, the table and the registry's headline numbers. */
export function evaluationOutput(
  compared: Compared,
  gates: ReturnType<typeof judgeCandidate>,
  safety: readonly SafetyCheck[],
  stored: {
    readonly report: ArtifactRef;
    readonly production: { readonly version: number } | null;
    readonly monitoringBaseline?: ArtifactRef;
    readonly html?: ArtifactRef;
    readonly topFeatures?: readonly string[];
    readonly pareto?: readonly ParetoRow[];
  },
) {
  const holdout = (compared.reports.holdout as { candidate: EvaluationReport }).candidate;
  const registry = registryEvaluation(holdout, stored.report);
  const onProduction = compared.reports.production?.candidate;
  return {
    gates: {
      performance: { passed: gates.performance.passed, reason: gates.performance.reason },
      fairness: { passed: gates.fairness.passed, reason: gates.fairness.reason },
      safety: { passed: gates.safety.passed, reason: gates.safety.reason },
    },
    table: gates.table,
    report: stored.report,
    production: stored.production,
    thresholds: compared.thresholds,
    registry: {
      ...registry,
      metrics: {
        ...registry.metrics,
        ...(onProduction && Number.isFinite(onProduction.auc) ? { 'production.auc': onProduction.auc } : {}),
      },
      safety: { ...registry.safety, ...Object.fromEntries(safety.map((c) => [c.check, c.passed])) },
    },
    ...(stored.monitoringBaseline ? { monitoringBaseline: stored.monitoringBaseline } : {}),
    ...(stored.html ? { html: stored.html } : {}),
    ...(stored.topFeatures ? { topFeatures: stored.topFeatures } : {}),
    /** The fairness checks that failed: what Mitigate acts on. */
    fairnessFailures: gates.fairness.failed,
    /** The holdout's headline numbers, one row of the mitigations' table. */
    holdout: holdoutHeadline(compared),
    ...(stored.pareto ? { pareto: stored.pareto } : {}),
  };
}

/** The candidate's headline numbers on the holdout: a row of the mitigations' table. */
export function holdoutHeadline(compared: Compared) {
  const holdout = (compared.reports.holdout as { candidate: EvaluationReport }).candidate;
  return {
    auc: holdout.auc,
    costPer1000: holdout.cost?.per1000 ?? null,
    fairness: registryEvaluation(holdout).fairness,
  };
}

/** Marks each row Pareto-optimal or not: AUC up, cost down, ratios up, differences down. */
export function markPareto(rows: readonly Omit<ParetoRow, 'paretoOptimal'>[]): ParetoRow[] {
  const criteria = (r: Omit<ParetoRow, 'paretoOptimal'>): number[] => [
    r.auc,
    ...(r.costPer1000 === null ? [] : [-r.costPer1000]),
    ...Object.keys(r.fairness)
      .sort()
      .flatMap((a) => {
        const f = r.fairness[a] ?? {};
        return [
          f.demographicParityRatio ?? 0,
          -(f.equalizedOddsDifference ?? 1),
          -(f.equalOpportunityDifference ?? 1),
        ];
      }),
  ];
  const scored = rows.map(criteria);
  return rows.map((row, i) => {
    const mine = scored[i] as number[];
    const dominated = scored.some(
      (other, j) =>
        j !== i &&
        other.length === mine.length &&
        other.every((v, k) => v >= (mine[k] as number)) &&
        other.some((v, k) => v > (mine[k] as number)),
    );
    return { ...row, paretoOptimal: !dominated };
  });
}

/** The drift baseline on held-out production rows: inputs, scores, and the decisions' outcomes. */
export function productionBaseline(
  table: Table,
  scores: ArrayLike<number>,
  inputs: readonly { readonly name: string }[],
  settings: RetrainingSettings,
  modelSha: string,
): Profile {
  const finite = Float64Array.from(scores, (v) => (Number.isFinite(v) ? v : Number.NaN));
  const profile = profileTable(
    {
      rowCount: table.rowCount,
      columns: new Map<string, Column>([
        ...inputs.flatMap(({ name }): [string, Column][] => {
          const column = table.columns.get(name);
          return column ? [[name, column]] : [];
        }),
        [SCORE_COLUMN, { kind: 'numeric', values: finite }],
      ]),
    },
    {
      keyPrefix: `baseline:production:${modelSha}`,
      bins: settings.training.profileBins,
      sampleSize: settings.training.profileSampleSize,
    },
  );
  const labels = (table.columns.get(settings.data.label) as { values: Float64Array }).values;
  profile.outcomes = outcomeBaseline(labels, finite);
  return profile;
}
