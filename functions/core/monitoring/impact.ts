/**
 * Business impact of a model in production: what its decisions cost now against what they cost
 * on the training holdout, turned into money at risk per day.
 *
 * Every served prediction is a decision (the served label, `p > threshold`); with the config's
 * costs a decision costs FP, FN, −TP benefit or nothing. The training run records, per score
 * bucket of the drift baseline, how many holdout rows fell in each cell of the confusion table
 * ({@link OutcomeBaseline}), so costs can change in the config without retraining.
 *
 * Two estimates, one per situation:
 * - **From outcomes**, when enough outcomes came back: the mean cost of the labelled decisions
 *   against the holdout's, with the standard error of the difference (both are means of i.i.d.
 *   per-decision costs).
 * - **From drift**, before outcomes come back: the holdout reweighted to the current score
 *   distribution (importance weight of a bucket = current share / baseline share). Under
 *   covariate shift P(y | x) is unchanged, so the expected cost of a decision given its score
 *   is unchanged and the reweighted holdout cost is the expected current cost. Reweighting on
 *   the score (one dimension) rather than on every input is what makes this estimable: a shift
 *   of an input the model ignores moves no score and costs nothing, which is the point. It
 *   cannot see concept drift (that needs outcomes).
 *
 * Money at risk is the cost increase per decision times the decisions per day; an alert needs
 * the lower confidence bound over budget, so sampling noise alone never pages anyone.
 */
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import type { CostMatrix } from '../metrics/cost.ts';

/** Holdout decisions of one score bucket: the four cells of its confusion table. */
export interface BucketOutcomes {
  readonly tp: number;
  readonly fp: number;
  readonly tn: number;
  readonly fn: number;
}

/** What the training holdout's decisions were, per bucket of the baseline's score column. */
export interface OutcomeBaseline {
  /** A row is decided positive when its score is strictly above this (the served label). */
  readonly threshold: number;
  /** Inner edges of the score buckets: bucket k holds (edges[k−1], edges[k]]. */
  readonly edges: readonly number[];
  /** One per bucket: edges.length + 1 of them. */
  readonly buckets: readonly BucketOutcomes[];
  /** Headline metrics on the holdout, for the outcome comparison (null where undefined). */
  readonly metrics: {
    readonly auc: number | null;
    readonly precision: number | null;
    readonly recall: number | null;
    readonly ece: number | null;
  };
}

/** Mean and variance of the cost of one decision over a set of decisions. */
export interface CostMoments {
  readonly n: number;
  readonly mean: number;
  readonly variance: number;
}

/** The cost of one decision. */
export function decisionCost(decision: 0 | 1, outcome: 0 | 1, costs: CostMatrix): number {
  if (decision === 1) return outcome === 1 ? -costs.truePositiveBenefit : costs.falsePositive;
  return outcome === 1 ? costs.falseNegative : 0;
}

/** Mean and (population) variance of the per-decision cost of a confusion table. */
export function costMoments(c: BucketOutcomes, costs: CostMatrix): CostMoments {
  const n = c.tp + c.fp + c.tn + c.fn;
  if (n === 0) return { n: 0, mean: 0, variance: 0 };
  const values = [
    [c.tp, -costs.truePositiveBenefit],
    [c.fp, costs.falsePositive],
    [c.fn, costs.falseNegative],
  ] as const;
  const mean = values.reduce((s, [k, v]) => s + k * v, 0) / n;
  const second = values.reduce((s, [k, v]) => s + k * v * v, 0) / n;
  return { n, mean, variance: Math.max(0, second - mean * mean) };
}

const add = (a: BucketOutcomes, b: BucketOutcomes): BucketOutcomes => ({
  tp: a.tp + b.tp,
  fp: a.fp + b.fp,
  tn: a.tn + b.tn,
  fn: a.fn + b.fn,
});

/** The whole holdout's confusion table. */
export function totalOutcomes(baseline: OutcomeBaseline): BucketOutcomes {
  return baseline.buckets.reduce(add, { tp: 0, fp: 0, tn: 0, fn: 0 });
}

export interface ImpactSettings {
  readonly costs: CostMatrix;
  readonly decisionsPerDay: number;
  readonly dailyBudget: number;
  /** Two-sided level of the reported interval; its lower end decides the alert. @default 0.95 */
  readonly confidence?: number;
}

export interface Impact {
  /** How it was estimated: labelled outcomes, or the score distribution's drift. */
  readonly basis: 'outcomes' | 'drift';
  /** Mean cost of a decision now (estimated) and on the training holdout. */
  readonly costPerDecision: { readonly current: number; readonly baseline: number };
  /** (current − baseline) cost per decision × decisions per day; negative: cheaper than at training. */
  readonly costChangePerDay: number;
  /** The change's confidence interval (per day). */
  readonly interval: { readonly lower: number; readonly upper: number; readonly confidence: number };
  /** The cost increase per day, never negative: what the check reports and charts. */
  readonly moneyAtRisk: number;
  readonly dailyBudget: number;
  /** The lower bound of the cost change is above the budget: an increase that is real and too large. */
  readonly overBudget: boolean;
  /** Rows the estimate rests on (labelled decisions, or current scores). */
  readonly rows: number;
}

function impactOf(
  basis: Impact['basis'],
  current: number,
  baseline: number,
  standardError: number,
  rows: number,
  settings: ImpactSettings,
): Impact {
  const confidence = settings.confidence ?? 0.95;
  const z = normalQuantile(1 - (1 - confidence) / 2, 0, 1);
  const perDay = settings.decisionsPerDay;
  const change = (current - baseline) * perDay;
  const lower = change - z * standardError * perDay;
  return {
    basis,
    costPerDecision: { current, baseline },
    costChangePerDay: change,
    interval: { lower, upper: change + z * standardError * perDay, confidence },
    moneyAtRisk: Math.max(0, change),
    dailyBudget: settings.dailyBudget,
    overBudget: lower > settings.dailyBudget,
    rows,
  };
}

/**
 * Impact from labelled decisions: their mean cost against the holdout's. `observed` is the
 * confusion table of the labelled production decisions.
 */
export function impactFromOutcomes(
  observed: BucketOutcomes,
  baseline: OutcomeBaseline,
  settings: ImpactSettings,
): Impact {
  const now = costMoments(observed, settings.costs);
  const before = costMoments(totalOutcomes(baseline), settings.costs);
  const se = Math.sqrt(
    (now.n > 0 ? now.variance / now.n : 0) + (before.n > 0 ? before.variance / before.n : 0),
  );
  return impactOf('outcomes', now.mean, before.mean, se, now.n, settings);
}

/**
 * Impact from the score distribution: the holdout's per-bucket mean costs, weighted by the
 * current share of each bucket (`currentCounts`, one per bucket of `baseline.edges`). The
 * difference Σ (q_b − p_b) m_b has three sources of noise, all added: the multinomial noise of
 * the current shares q, that of the holdout's shares p (a sample of the population too), and
 * that of each bucket's mean cost m_b (Σ (q_b − p_b)² v_b / n_b).
 */
export function impactFromDrift(
  currentCounts: readonly number[],
  baseline: OutcomeBaseline,
  settings: ImpactSettings,
): Impact {
  const buckets = baseline.buckets.map((b) => costMoments(b, settings.costs));
  const baseRows = buckets.reduce((s, b) => s + b.n, 0);
  const rows = currentCounts.reduce((s, v) => s + v, 0);
  const before = costMoments(totalOutcomes(baseline), settings.costs);
  if (rows === 0 || baseRows === 0) return impactOf('drift', before.mean, before.mean, 0, rows, settings);
  let mean = 0;
  let second = 0;
  let bucketNoise = 0;
  buckets.forEach((b, k) => {
    const q = (currentCounts[k] ?? 0) / rows;
    const p = b.n / baseRows;
    if (q > 0 && b.n === 0) return; // a bucket the holdout never reached carries no cost estimate
    mean += q * b.mean;
    second += q * b.mean * b.mean;
    if (b.n > 0) bucketNoise += ((q - p) * (q - p) * b.variance) / b.n;
  });
  // Shares of buckets the holdout never reached are renormalised away.
  const covered = buckets.reduce((s, b, k) => s + (b.n > 0 ? (currentCounts[k] ?? 0) / rows : 0), 0);
  if (covered > 0 && covered < 1) {
    mean /= covered;
    second /= covered;
  }
  const shareNoise = Math.max(0, second - mean * mean) / rows;
  const baseSecond = buckets.reduce((s, b) => s + (b.n / baseRows) * b.mean * b.mean, 0);
  const baseShareNoise = Math.max(0, baseSecond - before.mean * before.mean) / baseRows;
  return impactOf(
    'drift',
    mean,
    before.mean,
    Math.sqrt(shareNoise + baseShareNoise + bucketNoise),
    rows,
    settings,
  );
}
