/**
 * Threshold post-processing (Hardt, Price & Srebro, "Equality of Opportunity in Supervised
 * Learning", NeurIPS 2016): a trained score stays as it is; each group gets its own decision
 * rule on it, chosen on validation rows to cost least while the groups' rates are equal.
 *
 * Each group's candidate rules are its ROC points: "positive when the margin is above θ" for
 * θ past each distinct validation margin and below them all. A randomised rule mixes them with
 * weights λ (Σλ = 1), and the group's rates (selection, TPR, FPR) are the same mixture of the
 * points' rates, so the problem is a linear program over the λs (Hardt et al., section 4):
 * minimise the expected cost Σ_g Σ_k λ_gk·cost_gk subject to, for every group g against the
 * first, equal selection rates (demographic parity), equal TPRs (equal opportunity), or equal
 * TPRs and FPRs (equalised odds). Exact equality, as the paper: a solution tuned to just meet
 * a bound on validation rows misses it on new rows about half the time.
 *
 * The solution is each group's step function P_g(m) = Σ_k λ_gk·[m > θ_gk]: the probability
 * of a positive decision at margin m. Where a group's mass sits on one threshold, its rule is
 * deterministic; equalised odds needs several (the common point lies inside the worse group's
 * ROC curve), and rows between its lowest and highest threshold are then decided at random
 * with that probability. With one constrained rate a single threshold per group meets it to
 * within a row, and replaces any mixture. {@link adjustedMargins} turns the rule into a margin so that
 * the usual decision (probability > 0.5) is the rule's; the exported ONNX computes the same.
 */
import type { LinearProgramSolver } from '../lp.ts';
import type { FairnessConstraint } from './constraints.ts';

/** One group's decision rule: positive with probability Σ weights[k]·[m > thresholds[k]]. */
export interface GroupRule {
  readonly group: string;
  /** Margins (log-odds), ascending; −Infinity for "every row". */
  readonly thresholds: readonly number[];
  /** The mixture's weights, summing to 1. */
  readonly weights: readonly number[];
  /** Its rates on the validation rows under the rule. */
  readonly validation: {
    readonly rows: number;
    readonly selectionRate: number;
    readonly truePositiveRate: number | null;
    readonly falsePositiveRate: number | null;
  };
}

export interface ThresholdRule {
  readonly constraint: FairnessConstraint;
  /** The protected attribute: a declared model input of a post-processed model. */
  readonly attribute: string;
  readonly groups: readonly GroupRule[];
  /** The linear program's optimum: expected cost per validation row of the randomised rule. */
  readonly programCost: number;
  /**
   * Expected cost per validation row of the rule shipped: the optimum itself for equalised
   * odds; for one constrained rate, each group's single threshold nearest the optimum's rate.
   */
  readonly validationCost: number;
  /**
   * Half-width, in log-odds around the decision margin 0, of where the randomised rows of a
   * group are placed; their order there is the coin's, not the score's.
   */
  readonly band: number;
}

/** What a decision costs: false positives, false negatives, and the benefit of true positives. */
export interface DecisionCosts {
  readonly falsePositive: number;
  readonly falseNegative: number;
  readonly truePositiveBenefit?: number;
}

/** A group's ROC points on its validation rows: for each threshold, counts above it. */
export interface RocPoints {
  readonly group: string;
  readonly thresholds: Float64Array;
  readonly truePositives: Float64Array;
  readonly falsePositives: Float64Array;
  readonly positives: number;
  readonly negatives: number;
}

/** Every "margin > θ" rule of a group: θ = −∞ and one above each distinct margin, ascending. */
export function rocPoints(group: string, margins: ArrayLike<number>, y: ArrayLike<number>): RocPoints {
  const order = Array.from({ length: margins.length }, (_, i) => i).sort(
    (a, b) => (margins[a] as number) - (margins[b] as number),
  );
  let positives = 0;
  for (let i = 0; i < y.length; i++) positives += y[i] === 1 ? 1 : 0;
  const negatives = y.length - positives;
  const thresholds = [Number.NEGATIVE_INFINITY];
  const tp = [positives];
  const fp = [negatives];
  // Walking up the sorted margins, each distinct value θ leaves the rows at θ below the rule.
  let tpAbove = positives;
  let fpAbove = negatives;
  const distinct: number[] = [];
  for (let k = 0; k < order.length; ) {
    const value = margins[order[k] as number] as number;
    while (k < order.length && margins[order[k] as number] === value) {
      if (y[order[k] as number] === 1) tpAbove--;
      else fpAbove--;
      k++;
    }
    distinct.push(value);
    tp.push(tpAbove);
    fp.push(fpAbove);
  }
  // "Above v_k" is placed midway to the next distinct margin (past the last by half the last
  // gap): the same rule on these rows, and one a GBDT's float32 margin in ONNX cannot tip. Rows
  // in the same leaves share a margin exactly, and a threshold on it would split them by rounding.
  distinct.forEach((v, k) => {
    const next = distinct[k + 1];
    const gap = next !== undefined ? next - v : k > 0 ? v - (distinct[k - 1] as number) : 1;
    thresholds.push(v + gap / 2);
  });
  return {
    group,
    thresholds: Float64Array.from(thresholds),
    truePositives: Float64Array.from(tp),
    falsePositives: Float64Array.from(fp),
    positives,
    negatives,
  };
}

/**
 * The linear program over the groups' ROC points (variables: each group's points in order),
 * with each group's first variable's index. Exported for the reference test against scipy.
 */
export function thresholdProgram(
  points: readonly RocPoints[],
  constraint: FairnessConstraint,
  costs: DecisionCosts,
): { program: Parameters<LinearProgramSolver>[0]; offsets: number[]; rows: number } {
  const offsets: number[] = [];
  let n = 0;
  for (const p of points) {
    offsets.push(n);
    n += p.thresholds.length;
  }
  const rows = points.reduce((s, p) => s + p.positives + p.negatives, 0);
  const objective = new Float64Array(n);
  const benefit = costs.truePositiveBenefit ?? 0;
  points.forEach((p, g) => {
    for (let k = 0; k < p.thresholds.length; k++) {
      const tp = p.truePositives[k] as number;
      const fp = p.falsePositives[k] as number;
      objective[(offsets[g] as number) + k] =
        (costs.falsePositive * fp + costs.falseNegative * (p.positives - tp) - benefit * tp) / rows;
    }
  });
  const constraints: Parameters<LinearProgramSolver>[0]['constraints'][number][] = points.map((p, g) => ({
    terms: Array.from({ length: p.thresholds.length }, (_, k) => [(offsets[g] as number) + k, 1] as const),
    sense: '=' as const,
    rhs: 1,
  }));
  // A rate of group g as a linear form of its λs; null where it is undefined (no such rows).
  const rate = (g: number, kind: 'selection' | 'tpr' | 'fpr'): (readonly [number, number])[] | null => {
    const p = points[g] as RocPoints;
    const denominator =
      kind === 'selection' ? p.positives + p.negatives : kind === 'tpr' ? p.positives : p.negatives;
    if (denominator === 0) return null;
    return Array.from({ length: p.thresholds.length }, (_, k) => {
      const count =
        kind === 'selection'
          ? (p.truePositives[k] as number) + (p.falsePositives[k] as number)
          : kind === 'tpr'
            ? (p.truePositives[k] as number)
            : (p.falsePositives[k] as number);
      return [(offsets[g] as number) + k, count / denominator] as const;
    });
  };
  const kinds: ('selection' | 'tpr' | 'fpr')[] =
    constraint === 'demographic-parity'
      ? ['selection']
      : constraint === 'equal-opportunity'
        ? ['tpr']
        : ['tpr', 'fpr'];
  for (const kind of kinds) {
    // Every group whose rate is defined equals the first such group's.
    const defined = points.map((_, g) => rate(g, kind)).map((terms, g) => ({ terms, g }));
    const withRate = defined.filter((d) => d.terms !== null);
    const reference = withRate[0];
    if (!reference) continue;
    for (const other of withRate.slice(1))
      constraints.push({
        terms: [
          ...(other.terms as (readonly [number, number])[]),
          ...(reference.terms as (readonly [number, number])[]).map(([j, v]) => [j, -v] as const),
        ],
        sense: '=',
        rhs: 0,
      });
  }
  return { program: { objective, constraints }, offsets, rows };
}

/** Why post-processing cannot be fitted; `field` names what is wrong. */
export class ThresholdError extends RangeError {
  readonly field: string;
  constructor(message: string, field: string) {
    super(message);
    this.name = 'ThresholdError';
    this.field = field;
  }
}

/** Below this a mixture weight is the solver's rounding, not part of the rule. */
const NEGLIGIBLE = 1e-9;

/**
 * Fits group-specific (randomised where needed) thresholds on validation margins by Hardt et
 * al.'s linear program, solved by `solve` (HiGHS).
 */
export function fitThresholds(
  margins: ArrayLike<number>,
  y: ArrayLike<number>,
  groups: readonly string[],
  options: {
    readonly attribute: string;
    readonly constraint: FairnessConstraint;
    readonly costs?: DecisionCosts;
    readonly solve: LinearProgramSolver;
    /** @default 0.01 */
    readonly band?: number;
  },
): ThresholdRule {
  if (margins.length !== y.length || groups.length !== y.length)
    throw new RangeError(`${margins.length} margins, ${y.length} labels and ${groups.length} groups`);
  const names = [...new Set(groups)].sort();
  if (names.length < 2)
    throw new ThresholdError(`the validation rows hold one group of ${options.attribute} only`, 'attribute');
  const points = names.map((name) => {
    const rows = groups.flatMap((g, i) => (g === name ? [i] : []));
    return rocPoints(
      name,
      rows.map((i) => margins[i] as number),
      rows.map((i) => y[i] as number),
    );
  });
  const costs = options.costs ?? { falsePositive: 1, falseNegative: 1 };
  const { program, offsets, rows: lpRows } = thresholdProgram(points, options.constraint, costs);
  const solution = options.solve(program);
  if (solution.status !== 'Optimal')
    throw new ThresholdError(`the thresholds' linear program is ${solution.status}`, 'constraint');
  const cost = (p: RocPoints, k: number) =>
    costs.falsePositive * (p.falsePositives[k] as number) +
    costs.falseNegative * (p.positives - (p.truePositives[k] as number)) -
    (costs.truePositiveBenefit ?? 0) * (p.truePositives[k] as number);
  let shippedCost = 0;
  const ruleOf = (p: RocPoints, g: number): GroupRule => {
    const start = offsets[g] as number;
    let picked: { threshold: number; weight: number; k: number }[] = [];
    for (let k = 0; k < p.thresholds.length; k++) {
      const weight = solution.x[start + k] as number;
      if (weight > NEGLIGIBLE) picked.push({ threshold: p.thresholds[k] as number, weight, k });
    }
    if (picked.length > 1 && options.constraint !== 'equalized-odds') {
      // One rate per group is constrained, and some single threshold of the group's meets the
      // mixture's rate to within one row: it replaces the mixture. A mixture buys its small
      // gain on these rows (the hull over the empirical curve's dips, mostly noise) by
      // deciding a band of rows at random, which erased the score's ranking there (0.04 AUC
      // on the credit population). Equalised odds pins two rates, and needs the mixture.
      const rate = (k: number) =>
        options.constraint === 'demographic-parity'
          ? ((p.truePositives[k] as number) + (p.falsePositives[k] as number)) / (p.positives + p.negatives)
          : (p.truePositives[k] as number) / p.positives;
      const weightOf = picked.reduce((s, q) => s + q.weight, 0);
      const target = picked.reduce((s, q) => s + (q.weight / weightOf) * rate(q.k), 0);
      let best = 0;
      for (let k = 1; k < p.thresholds.length; k++) {
        const gap = Math.abs(rate(k) - target) - Math.abs(rate(best) - target);
        if (gap < -1e-12 || (Math.abs(gap) <= 1e-12 && cost(p, k) < cost(p, best))) best = k;
      }
      picked = [{ threshold: p.thresholds[best] as number, weight: 1, k: best }];
    }
    const total = picked.reduce((s, q) => s + q.weight, 0);
    shippedCost += picked.reduce((s, q) => s + (q.weight / total) * cost(p, q.k), 0) / lpRows;
    const mix = (values: Float64Array) =>
      picked.reduce((s, q) => s + (q.weight / total) * (values[q.k] as number), 0);
    const tp = mix(p.truePositives);
    const fp = mix(p.falsePositives);
    const rows = p.positives + p.negatives;
    return {
      group: p.group,
      thresholds: picked.map((q) => q.threshold),
      weights: picked.map((q) => q.weight / total),
      validation: {
        rows,
        selectionRate: (tp + fp) / rows,
        truePositiveRate: p.positives > 0 ? tp / p.positives : null,
        falsePositiveRate: p.negatives > 0 ? fp / p.negatives : null,
      },
    };
  };
  const rules = points.map(ruleOf);
  return {
    constraint: options.constraint,
    attribute: options.attribute,
    groups: rules,
    programCost: solution.objective,
    validationCost: shippedCost,
    band: options.band ?? 0.01,
  };
}

/**
 * The fractional part of 997·m: the coin of a randomised row, a function of its margin alone.
 * The margin is first rounded to float32, as a GBDT's ONNX graph computes it, so that the
 * exported model and TypeScript toss the same coin.
 */
export function coin(margin: number): number {
  const v = 997 * Math.fround(margin);
  return v - Math.floor(v);
}

/**
 * The margin a post-processed model answers with, from the base model's margin `m` and the
 * row's group, such that `m' > 0` (probability > 0.5) is the rule's decision:
 *
 * - above the group's highest threshold hi (always positive): `m' = δ + (m − hi)`;
 * - at or below its lowest lo (never positive): `m' = −δ + (m − lo)`;
 * - between them, positive when the coin u = {@link coin}(m) falls below P(m): with
 *   r = (m − lo)/(hi − lo), `m' = δ·(1 + r)/2` if positive, `−δ·(2 − r)/2` if not: the
 *   decision first, then the base model's order, so the score still ranks within the band;
 *
 * with δ = `band` for a randomised group and 0 for a deterministic one (lo = hi: the margin is
 * shifted by its threshold, nothing else). The coin is the margin's fractional digits: the
 * same row always gets the same decision, and across a band of rows it is uniform and all but
 * independent of the label. A group the rule does not know (or a missing value, unless the
 * validation rows had missing values as a group) keeps the base model's margin.
 */
export function adjustedMargin(
  rule: ThresholdRule,
  byGroup: ReadonlyMap<string, GroupRule>,
  m: number,
  group: string,
): number {
  const g = byGroup.get(group);
  if (!g) return m;
  const lo = g.thresholds[0] as number;
  const hi = g.thresholds[g.thresholds.length - 1] as number;
  const delta = lo < hi ? rule.band : 0;
  if (m > hi) return delta + (m - hi);
  if (m <= lo) return -delta + (m - lo);
  let p = 0;
  for (let k = 0; k < g.thresholds.length; k++)
    if (m > (g.thresholds[k] as number)) p += g.weights[k] as number;
  // lo may be −∞ (a share of the group always positive): r is then 1 throughout the band.
  const r = Number.isFinite(lo) ? (m - lo) / (hi - lo) : 1;
  return coin(m) < p ? (delta * (1 + r)) / 2 : (-delta * (2 - r)) / 2;
}

/** {@link adjustedMargin} of each row. */
export function adjustedMargins(
  rule: ThresholdRule,
  margins: ArrayLike<number>,
  groups: readonly string[],
): Float64Array {
  const byGroup = new Map(rule.groups.map((g) => [g.group, g]));
  return Float64Array.from(margins, (m, i) => adjustedMargin(rule, byGroup, m, groups[i] as string));
}
