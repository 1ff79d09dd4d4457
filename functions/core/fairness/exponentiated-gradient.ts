/**
 * The exponentiated-gradient reduction of fair classification (Agarwal, Beygelzimer, Dudík,
 * Langford & Wallach 2018, "A reductions approach to fair classification", ICML, Algorithm 1):
 * the Lagrangian game min_Q max_λ err(Q) + λᵀ(γ(Q) − ε) between a learner choosing classifiers
 * and an auditor choosing multipliers over the constraint's moments, played by exponentiated
 * gradient on λ (‖λ‖₁ ≤ B) against the learner's best response: a cost-sensitive
 * classification, i.e. an ordinary weighted fit. The result is the uniform mixture of the
 * iterates, with a duality-gap certificate.
 *
 * Moments, as fairlearn defines them (the issue names no other): demographic parity
 * γ_a = E[h | A = a] − E[h]; equalised odds γ_{a,y} = E[h | A = a, Y = y] − E[h | Y = y] for
 * y ∈ {0, 1}; equal opportunity the y = 1 half. Each enters twice, γ − ε ≤ 0 and −γ − ε ≤ 0.
 *
 * Written here (fairlearn is Python, and not installable here); the committed
 * `generate_exponentiated_gradient.py` runs the same algorithm with numpy and scikit-learn's
 * logistic regression as the learner, and the reference test replays it step by step.
 */
import { auc } from '../metrics/classification.ts';
import { fairness } from '../metrics/fairness.ts';
import { type ConstraintOutcome, constraintOutcome, type FairnessConstraint } from './constraints.ts';

export interface ExponentiatedGradientOptions {
  readonly constraint: FairnessConstraint;
  /** ε: the moments' allowed violation. @default 0.01 */
  readonly slack?: number;
  /** B, the bound on ‖λ‖₁. @default 1 / slack, as fairlearn */
  readonly multiplierBound?: number;
  /** T: iterations at most. @default 50, as fairlearn */
  readonly maxIterations?: number;
  /**
   * η₀: the auditor's learning rate is η₀ / B, shrunk by 0.8 whenever the best gap stops
   * falling by a fifth between checks (at rounds 5, 8, 13, …), as fairlearn. @default 2
   */
  readonly learningRate?: number;
  /**
   * ν: stop once the duality gap is below it, after 5 rounds at least.
   * @default 0.5 · sd(|h₁ − y|) / √n: the statistical uncertainty of the error, as fairlearn
   */
  readonly gapTolerance?: number;
}

/**
 * The learner's best response: fit `labels` (0/1) with `weights` (summing to n) on the training
 * rows and return the fitted classifier's 0/1 decisions on those rows, with the model.
 */
export type BestResponse<M> = (
  labels: Float64Array,
  weights: Float64Array,
) => {
  readonly model: M;
  readonly decisions: Uint8Array;
};

/** One round of the game. */
export interface ExponentiatedGradientStep {
  /** λ_t: the auditor's multipliers (2K: the + then the − sides of each moment). */
  readonly multipliers: Float64Array;
  /** err(h_t) on the training rows. */
  readonly error: number;
  /** γ(h_t): each moment of the round's classifier. */
  readonly moments: Float64Array;
  /** The duality gap of the mixture so far, ν_t. */
  readonly gap: number;
}

export interface ExponentiatedGradientResult<M> {
  /** h_1 … h_T, the mixture's members (uniform weights), in order. */
  readonly models: readonly M[];
  readonly decisions: readonly Uint8Array[];
  readonly steps: readonly ExponentiatedGradientStep[];
  /** Moment names, in the order of `moments`: `group` or `group|label`. */
  readonly momentNames: readonly string[];
  /** Whether the duality gap came within ν before T. */
  readonly converged: boolean;
}

/** Each moment's per-row coefficients: γ_k(h) = Σ_i g[k·n + i]·h_i. */
export function momentCoefficients(
  constraint: FairnessConstraint,
  y: ArrayLike<number>,
  groups: ArrayLike<string>,
): { readonly names: string[]; readonly g: Float64Array } {
  const n = y.length;
  const groupNames = [...new Set(Array.from({ length: n }, (_, i) => groups[i] as string))].sort();
  if (constraint === 'demographic-parity') {
    const g = new Float64Array(groupNames.length * n);
    groupNames.forEach((a, k) => {
      let na = 0;
      for (let i = 0; i < n; i++) if (groups[i] === a) na++;
      for (let i = 0; i < n; i++) g[k * n + i] = (groups[i] === a ? 1 / na : 0) - 1 / n;
    });
    return { names: groupNames, g };
  }
  const labels = constraint === 'equal-opportunity' ? [1] : [0, 1];
  const names: string[] = [];
  const rows: Float64Array[] = [];
  for (const label of labels) {
    let ny = 0;
    for (let i = 0; i < n; i++) if (y[i] === label) ny++;
    for (const a of groupNames) {
      let nay = 0;
      for (let i = 0; i < n; i++) if (y[i] === label && groups[i] === a) nay++;
      // A group without rows of this label has no such rate: no moment.
      if (nay === 0 || ny === 0) continue;
      const row = new Float64Array(n);
      for (let i = 0; i < n; i++) if (y[i] === label) row[i] = (groups[i] === a ? 1 / nay : 0) - 1 / ny;
      names.push(`${a}|${label}`);
      rows.push(row);
    }
  }
  const g = new Float64Array(rows.length * n);
  rows.forEach((row, k) => {
    g.set(row, k * n);
  });
  return { names, g };
}

/** fairlearn's schedule for shrinking η, and its fewest rounds. */
const REGRET_CHECK_START = 5;
const REGRET_CHECK_GROWTH = 1.6;
const SHRINK_REGRET = 0.8;
const SHRINK_ETA = 0.8;
const MIN_ROUNDS = 5;

export function exponentiatedGradient<M>(
  y: ArrayLike<number>,
  groups: ArrayLike<string>,
  bestResponse: BestResponse<M>,
  options: ExponentiatedGradientOptions,
): ExponentiatedGradientResult<M> {
  const n = y.length;
  if (groups.length !== n) throw new RangeError(`${n} labels but ${groups.length} group values`);
  if (n === 0) throw new RangeError('no rows');
  const slack = options.slack ?? 0.01;
  if (!(slack > 0 && slack < 1)) throw new RangeError(`slack must be in (0, 1), got ${slack}`);
  const B = options.multiplierBound ?? 1 / slack;
  const T = options.maxIterations ?? 50;
  const eta0 = options.learningRate ?? 2;
  if (!(B > 0) || !Number.isInteger(T) || T < 1 || !(eta0 > 0) || !((options.gapTolerance ?? 0) >= 0))
    throw new RangeError(`bad settings: B ${B}, T ${T}, η₀ ${eta0}, ν ${options.gapTolerance}`);
  let eta = eta0 / B;
  let nu = options.gapTolerance ?? Number.NaN;

  const { names, g } = momentCoefficients(options.constraint, y, groups);
  const K = names.length;
  const J = 2 * K;

  const momentsOf = (h: Uint8Array): Float64Array => {
    const out = new Float64Array(K);
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let i = 0; i < n; i++) if (h[i] === 1) s += g[k * n + i] as number;
      out[k] = s;
    }
    return out;
  };
  const errorOf = (h: Uint8Array): number => {
    let wrong = 0;
    for (let i = 0; i < n; i++) if (h[i] !== y[i]) wrong++;
    return wrong / n;
  };
  // The signed constraints' values γ_j − ε: + side then − side.
  const violations = (moments: Float64Array): Float64Array => {
    const out = new Float64Array(J);
    for (let k = 0; k < K; k++) {
      out[k] = (moments[k] as number) - slack;
      out[K + k] = -(moments[k] as number) - slack;
    }
    return out;
  };
  const lagrangian = (error: number, moments: Float64Array, lambda: Float64Array): number => {
    const v = violations(moments);
    let s = error;
    for (let j = 0; j < J; j++) s += (lambda[j] as number) * (v[j] as number);
    return s;
  };
  // The learner's best response to λ: predict 1 where its cost is lower than predicting 0.
  const respond = (lambda: Float64Array) => {
    const cost = new Float64Array(n); // c¹ − c⁰ per row
    for (let i = 0; i < n; i++) cost[i] = (y[i] === 1 ? -1 : 1) / n;
    for (let k = 0; k < K; k++) {
      const net = (lambda[k] as number) - (lambda[K + k] as number);
      if (net === 0) continue;
      for (let i = 0; i < n; i++) cost[i] = (cost[i] as number) + net * (g[k * n + i] as number);
    }
    const labels = new Float64Array(n);
    const weights = new Float64Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      labels[i] = (cost[i] as number) < 0 ? 1 : 0;
      weights[i] = Math.abs(cost[i] as number);
      total += weights[i] as number;
    }
    // Rescaled to sum to n, as fairlearn does: the learner's regularisation keeps its meaning.
    if (total > 0) for (let i = 0; i < n; i++) weights[i] = ((weights[i] as number) * n) / total;
    const fitted = bestResponse(labels, weights);
    if (fitted.decisions.length !== n)
      throw new RangeError(`the learner decided ${fitted.decisions.length} rows of ${n}`);
    return fitted;
  };

  const theta = new Float64Array(J);
  const models: M[] = [];
  const decisions: Uint8Array[] = [];
  const steps: ExponentiatedGradientStep[] = [];
  const lambdaSum = new Float64Array(J);
  const momentSum = new Float64Array(K);
  let errorSum = 0;
  let converged = false;
  const gaps: number[] = [];
  let lastChecked = REGRET_CHECK_START;
  let lastGap = Number.POSITIVE_INFINITY;
  for (let t = 1; t <= T; t++) {
    // λ = B·exp(θ) / (1 + Σ exp(θ)), computed stably.
    const top = Math.max(0, ...theta);
    let z = Math.exp(-top);
    for (let j = 0; j < J; j++) z += Math.exp((theta[j] as number) - top);
    const lambda = Float64Array.from(theta, (th) => (B * Math.exp(th - top)) / z);
    const { model, decisions: h } = respond(lambda);
    const moments = momentsOf(h);
    const error = errorOf(h);
    if (t === 1 && Number.isNaN(nu)) {
      // sd of |h − y| is that of a Bernoulli(error) (population sd, as pandas' with n − 1).
      const sd = Math.sqrt((error * (1 - error) * n) / Math.max(1, n - 1));
      nu = (0.5 * sd) / Math.sqrt(n);
    }
    models.push(model);
    decisions.push(h);
    for (let j = 0; j < J; j++) lambdaSum[j] = (lambdaSum[j] as number) + (lambda[j] as number);
    for (let k = 0; k < K; k++) momentSum[k] = (momentSum[k] as number) + (moments[k] as number);
    errorSum += error;
    // The mixture Q̂ (uniform over h_1…h_t) and the auditor's average λ̂.
    const qError = errorSum / t;
    const qMoments = Float64Array.from(momentSum, (m) => m / t);
    const lambdaHat = Float64Array.from(lambdaSum, (l) => l / t);
    const lHat = lagrangian(qError, qMoments, lambdaHat);
    // The auditor's best response to Q̂: all of B on the most violated constraint, if any is.
    const worst = Math.max(...violations(qMoments));
    const lAuditor = qError + (worst > 0 ? B * worst : 0);
    // The learner's best response to λ̂.
    const best = respond(lambdaHat).decisions;
    const lLearner = lagrangian(errorOf(best), momentsOf(best), lambdaHat);
    const gap = Math.max(lAuditor - lHat, lHat - lLearner);
    steps.push({ multipliers: lambda, error, moments, gap });
    gaps.push(gap);
    if (gap < nu && t > MIN_ROUNDS) {
      converged = true;
      break;
    }
    // Rounds counted from 0 here, as in fairlearn's schedule.
    if (t - 1 >= lastChecked * REGRET_CHECK_GROWTH) {
      const best = Math.min(...gaps);
      if (best > lastGap * SHRINK_REGRET) eta *= SHRINK_ETA;
      lastChecked = t - 1;
      lastGap = best;
    }
    const v = violations(moments);
    for (let j = 0; j < J; j++) theta[j] = (theta[j] as number) + eta * (v[j] as number);
  }
  return { models, decisions, steps, momentNames: names, converged };
}

/** One iterate judged on the validation rows. */
export interface IterateOnValidation {
  /** 1-based round of the game. */
  readonly round: number;
  /** Misclassification at 0.5, the reduction's objective. */
  readonly error: number;
  readonly auc: number;
  readonly outcome: ConstraintOutcome;
  /** Selects nobody or everybody at 0.5: its parity would be vacuous. */
  readonly degenerate: boolean;
}

/**
 * Which single iterate to ship: of those that meet the constraint on the validation rows (and
 * select somebody and not everybody), the one with the lowest validation error; if none meets
 * it, the one closest to its bound. Why one iterate and not the mixture's averaged probability:
 * it is an ordinary model of the configured algorithm, so it exports, serves and explains
 * (TreeSHAP, linear SHAP) as any other; the mixture's guarantee is for a randomised
 * classifier, and its average is neither of the learner's kind nor the one the guarantee is
 * about. What ships is then judged on the holdout like any model.
 */
export function chooseIterate(
  probabilities: readonly ArrayLike<number>[],
  y: ArrayLike<number>,
  groups: ArrayLike<string>,
  constraint: FairnessConstraint,
  bound?: number,
): { readonly chosen: number; readonly iterates: readonly IterateOnValidation[] } {
  if (probabilities.length === 0) throw new RangeError('no iterates to choose from');
  const ys = Array.from(y);
  const iterates = probabilities.map((p, t): IterateOnValidation => {
    let wrong = 0;
    let selected = 0;
    for (let i = 0; i < ys.length; i++) {
      const decision = (p[i] as number) >= 0.5 ? 1 : 0;
      selected += decision;
      if (decision !== ys[i]) wrong++;
    }
    return {
      round: t + 1,
      error: wrong / ys.length,
      auc: auc(ys, p),
      outcome: constraintOutcome(constraint, fairness(ys, p, groups), bound),
      degenerate: selected === 0 || selected === ys.length,
    };
  });
  const distance = (o: ConstraintOutcome) => (o.direction === '≥' ? o.bound - o.value : o.value - o.bound);
  const usable = iterates.filter((it) => !it.degenerate);
  const pool = usable.length > 0 ? usable : iterates;
  const meeting = pool.filter((it) => it.outcome.met);
  const best = (meeting.length > 0 ? meeting : pool).reduce((a, b) => {
    const [ka, kb] = meeting.length > 0 ? [a.error, b.error] : [distance(a.outcome), distance(b.outcome)];
    return kb < ka ? b : a;
  });
  return { chosen: best.round, iterates };
}
