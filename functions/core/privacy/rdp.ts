/**
 * The Rényi-DP accountant of the sampled Gaussian mechanism, as TF-Privacy and Opacus compute it.
 *
 * - **RDP of one step** (Mironov, Talwar & Zhang 2019, "Rényi Differential Privacy of the Sampled
 *   Gaussian Mechanism"): at order α, log(A_α)/(α − 1), with A_α = E_{z∼μ0}[(μ(z)/μ0(z))^α] for
 *   μ0 = N(0, σ²) and μ = (1 − q)μ0 + qN(1, σ²). For an integer α, A_α is a finite binomial sum
 *   (their Section 3.3); for a fractional α, the two series of their Section 3.4 with erfc terms,
 *   summed until both terms fall below e⁻³⁰, as the reference implementations do.
 * - **Composition**: RDP adds over steps and over mechanisms at each order.
 * - **Conversion to (ε, δ)** (Balle et al. 2020, "Hypothesis testing interpretations and Rényi
 *   differential privacy", Theorem 21): ε = rdp(α) − (log δ + log α)/(α − 1) + log((α − 1)/α),
 *   minimised over the orders (Opacus's defaults: 1.1 to 10.9 by 0.1, then 12 to 63).
 * - **Calibration**: the noise multiplier σ that meets a target ε for given steps and rate, by
 *   Opacus's search (double σ until ε is met, then bisect to within a tolerance).
 *
 * Hand-written because no maintained JavaScript package computes it; checked against a port of
 * the published algorithm (test/fixtures/reference/generate_rdp.py), itself checked against
 * numerical integration of A_α.
 */
import erfc from '@stdlib/math-base-special-erfc';
import erfcx from '@stdlib/math-base-special-erfcx';

/** Opacus's default orders: 1.1, 1.2, …, 10.9, then 12, 13, …, 63. */
export const DEFAULT_ORDERS: readonly number[] = [
  ...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10),
  ...Array.from({ length: 52 }, (_, k) => 12 + k),
];

/** The largest noise multiplier calibration tries before it says the budget is too small. */
export const MAX_NOISE_MULTIPLIER = 2000;

/** log(e^a + e^b), exact when one is −∞. */
function logAdd(a: number, b: number): number {
  const hi = Math.max(a, b);
  const lo = Math.min(a, b);
  if (lo === Number.NEGATIVE_INFINITY) return hi;
  return hi + Math.log1p(Math.exp(lo - hi));
}

/** log(e^a − e^b) for a ≥ b; −∞ when they are equal. */
function logSub(a: number, b: number): number {
  if (b === Number.NEGATIVE_INFINITY) return a;
  if (a === b) return Number.NEGATIVE_INFINITY;
  if (a < b) throw new RangeError('logSub: the result would be negative');
  return a + Math.log(-Math.expm1(b - a));
}

/** log(erfc(x)) without underflow: erfc(x) = erfcx(x)·e^(−x²) in the right tail. */
function logErfc(x: number): number {
  return x < 1 ? Math.log(erfc(x)) : Math.log(erfcx(x)) - x * x;
}

/** log(A_α) for an integer α ≥ 2: Σ_i C(α, i) q^i (1 − q)^(α−i) e^((i² − i)/(2σ²)). */
function logAInteger(q: number, sigma: number, alpha: number): number {
  let logA = Number.NEGATIVE_INFINITY;
  let logBinom = 0; // log C(α, 0)
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += Math.log((alpha - i + 1) / i);
    const s = logBinom + i * Math.log(q) + (alpha - i) * Math.log1p(-q) + (i * i - i) / (2 * sigma * sigma);
    logA = logAdd(logA, s);
  }
  return logA;
}

/** log(A_α) for a fractional α > 1: the two erfc series, each term with the binomial's sign. */
function logAFractional(q: number, sigma: number, alpha: number): number {
  let logA0 = Number.NEGATIVE_INFINITY;
  let logA1 = Number.NEGATIVE_INFINITY;
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  let coef = 1; // C(α, i), by its recurrence: its sign alternates once i > α + 1
  for (let i = 0; ; i++) {
    if (i > 0) coef *= (alpha - i + 1) / i;
    const logCoef = Math.log(Math.abs(coef));
    const j = alpha - i;
    const logT0 = logCoef + i * Math.log(q) + j * Math.log1p(-q);
    const logT1 = logCoef + j * Math.log(q) + i * Math.log1p(-q);
    const logE0 = Math.log(0.5) + logErfc((i - z0) / (Math.SQRT2 * sigma));
    const logE1 = Math.log(0.5) + logErfc((z0 - j) / (Math.SQRT2 * sigma));
    const logS0 = logT0 + (i * i - i) / (2 * sigma * sigma) + logE0;
    const logS1 = logT1 + (j * j - j) / (2 * sigma * sigma) + logE1;
    if (coef > 0) {
      logA0 = logAdd(logA0, logS0);
      logA1 = logAdd(logA1, logS1);
    } else {
      logA0 = logSub(logA0, logS0);
      logA1 = logSub(logA1, logS1);
    }
    if (Math.max(logS0, logS1) < -30) break;
  }
  return logAdd(logA0, logA1);
}

function checkMechanism(q: number, sigma: number): void {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`sample rate must be in [0, 1], got ${q}`);
  if (!(sigma >= 0) || !Number.isFinite(sigma))
    throw new RangeError(`noise multiplier must be a finite number ≥ 0, got ${sigma}`);
}

/** RDP at `order` of one step of the sampled Gaussian mechanism (rate q, noise multiplier σ). */
export function rdpSampledGaussian(q: number, sigma: number, order: number): number {
  checkMechanism(q, sigma);
  if (!(order > 1)) throw new RangeError(`orders must be greater than 1, got ${order}`);
  if (q === 0) return 0;
  if (sigma === 0) return Number.POSITIVE_INFINITY;
  if (q === 1) return order / (2 * sigma * sigma);
  if (!Number.isFinite(order)) return Number.POSITIVE_INFINITY;
  const logA = Number.isInteger(order) ? logAInteger(q, sigma, order) : logAFractional(q, sigma, order);
  return logA / (order - 1);
}

/** The RDP curve of `steps` compositions of the sampled Gaussian mechanism, over `orders`. */
export function rdpCurve(
  mechanism: { readonly sampleRate: number; readonly noiseMultiplier: number; readonly steps: number },
  orders: readonly number[] = DEFAULT_ORDERS,
): number[] {
  if (!(Number.isInteger(mechanism.steps) && mechanism.steps >= 0))
    throw new RangeError(`steps must be a whole number ≥ 0, got ${mechanism.steps}`);
  return orders.map(
    (a) => mechanism.steps * rdpSampledGaussian(mechanism.sampleRate, mechanism.noiseMultiplier, a),
  );
}

/** RDP curves of mechanisms run one after the other on the same data: they add, order by order. */
export function composeRdp(...curves: readonly (readonly number[])[]): number[] {
  const length = curves[0]?.length ?? 0;
  if (curves.some((c) => c.length !== length))
    throw new RangeError('curves over different orders cannot be composed');
  return Array.from({ length }, (_, i) => curves.reduce((s, c) => s + (c[i] as number), 0));
}

/** (ε, δ) of an RDP curve: Balle et al.'s conversion, at the best order. */
export function epsilonOf(
  rdp: readonly number[],
  delta: number,
  orders: readonly number[] = DEFAULT_ORDERS,
): { readonly epsilon: number; readonly order: number } {
  if (!(delta > 0 && delta < 1)) throw new RangeError(`delta must be in (0, 1), got ${delta}`);
  if (rdp.length !== orders.length)
    throw new RangeError(`${rdp.length} RDP values for ${orders.length} orders`);
  let best = { epsilon: Number.POSITIVE_INFINITY, order: Number.NaN };
  orders.forEach((a, i) => {
    const eps = (rdp[i] as number) - (Math.log(delta) + Math.log(a)) / (a - 1) + Math.log((a - 1) / a);
    if (eps < best.epsilon) best = { epsilon: eps, order: a };
  });
  return best;
}

export interface SampledGaussian {
  readonly noiseMultiplier: number;
  readonly sampleRate: number;
  readonly steps: number;
}

/** ε spent by `steps` of the sampled Gaussian mechanism at δ. */
export function epsilonSpent(
  mechanism: SampledGaussian & { readonly delta: number },
  orders: readonly number[] = DEFAULT_ORDERS,
): { readonly epsilon: number; readonly order: number; readonly delta: number } {
  return { ...epsilonOf(rdpCurve(mechanism, orders), mechanism.delta, orders), delta: mechanism.delta };
}

/** The budget cannot be met at any noise multiplier Keel tries: the numbers say why. */
export class PrivacyBudgetError extends RangeError {}

/**
 * The smallest noise multiplier (within the search's tolerance) whose `steps` at `sampleRate`
 * spend at most `epsilon` at `delta`, with what else the data already spent (`spent`, an RDP
 * curve over the same orders) composed in.
 */
export function calibrateNoise(
  target: {
    readonly epsilon: number;
    readonly delta: number;
    readonly sampleRate: number;
    readonly steps: number;
    /** RDP already spent on the same data (the pipeline's statistics). @default none */
    readonly spent?: readonly number[];
    /** @default 0.01, Opacus's */
    readonly tolerance?: number;
  },
  orders: readonly number[] = DEFAULT_ORDERS,
): { readonly noiseMultiplier: number; readonly epsilon: number; readonly order: number } {
  if (!(target.epsilon > 0) || !Number.isFinite(target.epsilon))
    throw new RangeError(`epsilon must be a finite number > 0, got ${target.epsilon}`);
  const tolerance = target.tolerance ?? 0.01;
  const spentBefore = target.spent ?? orders.map(() => 0);
  const at = (sigma: number) =>
    epsilonOf(
      composeRdp(
        spentBefore,
        rdpCurve({ noiseMultiplier: sigma, sampleRate: target.sampleRate, steps: target.steps }, orders),
      ),
      target.delta,
      orders,
    );
  const floor = target.spent ? epsilonOf(target.spent, target.delta, orders).epsilon : 0;
  if (floor >= target.epsilon)
    throw new PrivacyBudgetError(
      `the data's statistics already spend ε = ${floor.toFixed(3)} at δ = ${target.delta}, the whole budget of ε = ${target.epsilon}`,
    );
  let low = 0;
  let high = 10;
  let best = at(high);
  while (best.epsilon > target.epsilon) {
    high *= 2;
    if (high > MAX_NOISE_MULTIPLIER)
      throw new PrivacyBudgetError(
        `ε = ${target.epsilon} at δ = ${target.delta} cannot be met with ${target.steps} steps at sample rate ${target.sampleRate}: even a noise multiplier of ${MAX_NOISE_MULTIPLIER} spends more (more rows, fewer steps or a larger ε would)`,
      );
    best = at(high);
  }
  while (target.epsilon - best.epsilon > tolerance) {
    const sigma = (low + high) / 2;
    const e = at(sigma);
    if (e.epsilon < target.epsilon) {
      high = sigma;
      best = e;
    } else low = sigma;
  }
  return { noiseMultiplier: high, epsilon: best.epsilon, order: best.order };
}
