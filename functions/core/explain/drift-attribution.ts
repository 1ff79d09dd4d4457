/**
 * Why drift costs money: which raw columns moved the predictions, and the money, between the
 * training baseline and a window of production traffic; and, on labelled decisions, which
 * columns' contributions explain the new residuals.
 *
 * **Input side.** With SHAP values of the margin against a fixed reference, the mean margin of
 * any set of rows is the reference's plus the mean of Σ φ_j; so the change in mean margin from
 * the baseline sample to the current one splits exactly into per-column changes of mean φ_j.
 * Each change gets a 95 % interval (the two samples' standard errors), so noise is not blamed.
 * Money per column is the column's shift times the money's average slope along the shift: the
 * drift estimate the check already makes (`moneyOf`: the per-bucket reweighting of the holdout's
 * outcomes) on the window's rows, and on them with the whole mean shift undone, differenced and
 * divided by the shift. A function of the mean margin attributed so (Aumann–Shapley along the
 * straight path) adds up: the columns' money is what undoing the mean shift would save; what is
 * left is reported as not from the inputs' mean shift. Below 0.25 log-odds of shift the slope is
 * taken over ±0.25 instead: the buckets make the estimate a step function at finer scales (one
 * sampled row crossing an edge moved it by tens of thousands a day).
 *
 * When the mean margin did not move beyond its noise, the inputs did not move the predictions,
 * and this says so rather than naming a cause (under concept drift P(y | x) changes, not x).
 *
 * **Outcome side.** On labelled decisions, the outcome is regressed on the columns'
 * contributions (logistic, y ~ a + Σ b_j φ_j): a model that still fits has every b_j ≈ 1.
 * A column whose b_j is beyond 1 (its interval from the Fisher information excludes it) weighs
 * more (b > 1) or less (b < 1) in the outcomes now than in the model: that is where the new
 * residuals come from. (Platt scaling per contribution; cf. Lundberg et al.'s model monitoring
 * with SHAP loss, "From local explanations to global understanding", 2020.)
 */
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import { matrix, sigmoid } from '../linalg.ts';
import { fitLogistic, logisticStandardErrors } from '../models/logistic.ts';
import type { Explanation } from './explainer.ts';

/** z of a two-sided 95 % interval. */
const Z95 = 1.959963984540054;

/** The residual log-odds per sd of a contribution below which a changed weight is not reported. */
const MATERIAL_EFFECT = 0.05;

export interface ColumnShift {
  readonly column: string;
  /** Mean contribution (log-odds) on the baseline sample and on the window's. */
  readonly baseline: number;
  readonly current: number;
  /** current − baseline: this column's share of the change in mean margin. */
  readonly shift: number;
  readonly interval: { readonly lower: number; readonly upper: number };
  /** The interval excludes 0. */
  readonly significant: boolean;
  /** Money per day this column's shift costs: shift × the money's sensitivity to the mean log-odds. */
  readonly moneyPerDay?: number;
}

export interface OutcomeWeight {
  readonly column: string;
  /** b_j in y ~ a + Σ b_j φ_j: 1 when the column weighs in the outcomes as in the model. */
  readonly weight: number;
  readonly interval: { readonly lower: number; readonly upper: number };
  /**
   * The weight differs from 1 with every column tested at once (Bonferroni, 95 %), by a
   * material effect (|effect| ≥ 0.05 log-odds per sd).
   */
  readonly changed: boolean;
  /** (b − 1) × the standard deviation of φ_j: the residual log-odds it explains, per sd. */
  readonly effect: number;
}

export interface DriftAttribution {
  readonly method: Explanation['method'];
  readonly featurePerturbation: Explanation['featurePerturbation'];
  readonly rows: { readonly baseline: number; readonly current: number; readonly labelled: number };
  /** Mean margin (log-odds) on each sample, and the change with its interval. */
  readonly margin: {
    readonly baseline: number;
    readonly current: number;
    readonly change: number;
    readonly interval: { readonly lower: number; readonly upper: number };
  };
  /** The change in mean margin is beyond its noise: the inputs moved the predictions. */
  readonly inputsMoved: boolean;
  /** Columns by |shift|, largest first. */
  readonly inputs: readonly ColumnShift[];
  /** The cost change per day on the window's sample, by the check's drift estimate. */
  readonly moneyPerDay?: number;
  /** The money's average slope along the shift, per log-odds: what a column's shift costs. */
  readonly moneyPerLogOdds?: number;
  /** Money not from the inputs' mean shift: what is left with it undone (shape changes, noise). */
  readonly moneyUnattributed?: number;
  /** On labelled decisions; absent with a reason when there are too few. */
  readonly outcomes: { readonly columns: readonly OutcomeWeight[]; readonly intercept: number } | null;
  readonly outcomesReason?: string;
  /** The finding in a sentence, for reports and alerts. */
  readonly summary: string;
}

export interface DriftAttributionOptions {
  /** Money at risk per day of a sample's probabilities (the check's drift estimate). @default no money */
  readonly moneyOf?: (probabilities: ArrayLike<number>) => number;
  /** The smallest shift whose own path gives the slope, in log-odds; below it, ±this. @default 0.25 */
  readonly moneyStep?: number;
  /** The labelled decisions' explanation and outcomes. @default no outcome side */
  readonly labelled?: { readonly explanation: Explanation; readonly outcomes: ArrayLike<number> };
  /** Labelled rows needed for the outcome side. @default 200 */
  readonly minLabelled?: number;
  readonly currency?: string;
}

function moments(values: ArrayLike<number>): { mean: number; variance: number } {
  const n = values.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i] as number;
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += ((values[i] as number) - mean) ** 2;
  return { mean, variance: n > 1 ? variance / (n - 1) : 0 };
}

function difference(current: ArrayLike<number>, baseline: ArrayLike<number>) {
  const c = moments(current);
  const b = moments(baseline);
  const change = c.mean - b.mean;
  const se = Math.sqrt(c.variance / current.length + b.variance / baseline.length);
  return {
    baseline: b.mean,
    current: c.mean,
    change,
    interval: { lower: change - Z95 * se, upper: change + Z95 * se },
  };
}

const columnOf = (e: Explanation, name: string) =>
  Float64Array.from(e.rows, (r) => r.contributions[name] ?? 0);

/**
 * The outcome side: logistic regression of outcomes on per-column contributions, with Wald
 * intervals (the stale-feature review reads a column's weight too).
 */
export function outcomeWeights(
  explanation: Explanation,
  outcomes: ArrayLike<number>,
  names: readonly string[],
) {
  const n = explanation.rows.length;
  const d = names.length;
  const data = new Float64Array(n * d);
  explanation.rows.forEach((row, i) => {
    names.forEach((name, j) => {
      data[i * d + j] = row.contributions[name] ?? 0;
    });
  });
  const x = matrix(n, d, data);
  // Barely regularised: the weights are estimates, not a model to ship.
  const fit = fitLogistic(x, outcomes, { C: 1e6 });
  const errors = logisticStandardErrors(fit, x);
  const zBonferroni = normalQuantile(1 - 0.025 / d, 0, 1);
  return {
    intercept: fit.intercept,
    columns: names
      .map((column, j) => {
        const se = errors[j] as number;
        const weight = fit.coefficients[j] as number;
        const sd = Math.sqrt(moments(columnOf(explanation, column)).variance);
        const effect = (weight - 1) * sd;
        // Every column is tested at once: Bonferroni, so six columns do not make a false alarm
        // likely; and a weight far from 1 on a contribution that barely varies changes nothing.
        const margin = zBonferroni * se;
        return {
          column,
          weight,
          interval: { lower: weight - Z95 * se, upper: weight + Z95 * se },
          changed: (weight - margin > 1 || weight + margin < 1) && Math.abs(effect) >= MATERIAL_EFFECT,
          effect,
        };
      })
      .sort((a, b) => Math.abs(b.effect) - Math.abs(a.effect)),
  };
}

const signed = (v: number, digits = 3) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;

/**
 * Attributes the change from `baseline` (explained training rows) to `current` (explained
 * window rows, the same explainer and perturbation) to raw columns.
 */
export function attributeDrift(
  baseline: Explanation,
  current: Explanation,
  options: DriftAttributionOptions = {},
): DriftAttribution {
  if (baseline.rows.length < 2 || current.rows.length < 2)
    throw new RangeError(
      `attribution needs two rows or more on each side, got ${baseline.rows.length} and ${current.rows.length}`,
    );
  const names = Object.keys(current.rows[0]?.contributions ?? {});
  const margin = difference(
    Float64Array.from(current.rows, (r) => r.margin),
    Float64Array.from(baseline.rows, (r) => r.margin),
  );
  const inputsMoved = margin.interval.lower > 0 || margin.interval.upper < 0;
  const money = options.moneyOf;
  const moneyPerDay = money?.(current.rows.map((r) => sigmoid(r.margin)));
  const h = options.moneyStep ?? 0.25;
  const shifted = (by: number) =>
    (money as NonNullable<typeof money>)(current.rows.map((r) => sigmoid(r.margin + by)));
  const undone = money && Math.abs(margin.change) >= h ? shifted(-margin.change) : undefined;
  const moneyPerLogOdds =
    money && moneyPerDay !== undefined
      ? undone !== undefined
        ? (moneyPerDay - undone) / margin.change
        : (shifted(h) - shifted(-h)) / (2 * h)
      : undefined;
  const inputs = names
    .map((column): ColumnShift => {
      const d = difference(columnOf(current, column), columnOf(baseline, column));
      const significant = d.interval.lower > 0 || d.interval.upper < 0;
      return {
        column,
        baseline: d.baseline,
        current: d.current,
        shift: d.change,
        interval: d.interval,
        significant,
        ...(moneyPerLogOdds !== undefined ? { moneyPerDay: moneyPerLogOdds * d.change } : {}),
      };
    })
    .sort((a, b) => Math.abs(b.shift) - Math.abs(a.shift));

  const minLabelled = options.minLabelled ?? 200;
  const labelled = options.labelled;
  let outcomes: DriftAttribution['outcomes'] = null;
  let outcomesReason: string | undefined;
  if (!labelled || labelled.explanation.rows.length < minLabelled)
    outcomesReason = `${labelled?.explanation.rows.length ?? 0} labelled decisions in the sample; the outcome side needs ${minLabelled}`;
  else {
    const ys = Array.from(labelled.outcomes);
    if (ys.every((y) => y === ys[0])) outcomesReason = 'every labelled decision had the same outcome';
    else outcomes = outcomeWeights(labelled.explanation, labelled.outcomes, names);
  }

  const currency = options.currency ?? '';
  const moved = inputs.filter((c) => c.significant).slice(0, 3);
  const parts: string[] = [];
  if (inputsMoved && moved.length > 0)
    parts.push(
      `inputs moved the mean log-odds by ${signed(margin.change)}: ${moved
        .map(
          (c) =>
            `${c.column} ${signed(c.shift)}${c.moneyPerDay !== undefined ? ` (${currency ? `${currency} ` : ''}${Math.round(c.moneyPerDay).toLocaleString('en-US')}/day)` : ''}`,
        )
        .join(', ')}`,
    );
  else
    parts.push(
      `the inputs did not move the predictions (mean log-odds ${signed(margin.change)}, 95 % interval ${signed(margin.interval.lower)} to ${signed(margin.interval.upper)})`,
    );
  const changed = outcomes?.columns.filter((c) => c.changed).slice(0, 3) ?? [];
  if (changed.length > 0)
    parts.push(
      `outcomes weigh ${changed.map((c) => `${c.column} ×${c.weight.toFixed(2)}`).join(', ')} against the model's ×1`,
    );
  else if (outcomes) parts.push('the labelled outcomes fit the model’s contributions');
  return {
    method: current.method,
    featurePerturbation: current.featurePerturbation,
    rows: {
      baseline: baseline.rows.length,
      current: current.rows.length,
      labelled: labelled?.explanation.rows.length ?? 0,
    },
    margin: {
      baseline: margin.baseline,
      current: margin.current,
      change: margin.change,
      interval: margin.interval,
    },
    inputsMoved,
    inputs,
    ...(moneyPerDay !== undefined ? { moneyPerDay } : {}),
    ...(moneyPerLogOdds !== undefined ? { moneyPerLogOdds } : {}),
    ...(moneyPerDay !== undefined && moneyPerLogOdds !== undefined
      ? { moneyUnattributed: moneyPerDay - moneyPerLogOdds * margin.change }
      : {}),
    outcomes,
    ...(outcomesReason ? { outcomesReason } : {}),
    summary: parts.join('; '),
  };
}
