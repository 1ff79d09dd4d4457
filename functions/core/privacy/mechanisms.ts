/**
 * What each private release Keel makes spends, as an RDP curve over one set of orders, so that
 * every release on a data source composes into one curve (RDP adds order by order) and one ε.
 *
 * - **sampled-gaussian**: `steps` of DP-SGD or DP-FedAvg (Mironov, Talwar & Zhang 2019).
 * - **gaussian**: `count` releases of a statistic with Gaussian noise σ = noiseMultiplier·Δ:
 *   α/(2·noiseMultiplier²) each (Mironov 2017, Proposition 7); the sampled Gaussian at q = 1.
 * - **discrete-gaussian**: `count` releases with discrete Gaussian noise of scale σ on a statistic
 *   of sensitivity Δ: α·Δ²/(2σ²) each (Canonne, Kamath & Steinke 2020, Theorem 4).
 * - **pure**: `count` ε-DP releases (discrete Laplace): min(ε, α·ε²/2) each. ε-DP is (α, ε)-RDP at
 *   every order (Mironov 2017, Proposition 3) and ε²/2-zCDP, that is (α, αε²/2)-RDP (Bun & Steinke
 *   2016, Proposition 3.3).
 */
import { rdpDiscreteGaussian } from './discrete.ts';
import { DEFAULT_ORDERS, rdpCurve } from './rdp.ts';

export type Mechanism =
  | {
      readonly kind: 'sampled-gaussian';
      readonly noiseMultiplier: number;
      readonly sampleRate: number;
      readonly steps: number;
    }
  | { readonly kind: 'gaussian'; readonly noiseMultiplier: number; readonly count: number }
  | {
      readonly kind: 'discrete-gaussian';
      readonly sigma: number;
      readonly sensitivity: number;
      readonly count: number;
    }
  | { readonly kind: 'pure'; readonly epsilon: number; readonly count: number };

function checkCount(count: number): void {
  if (!(Number.isSafeInteger(count) && count >= 0))
    throw new RangeError(`count must be a whole number ≥ 0, got ${count}`);
}

function checkPositive(value: number, what: string): void {
  if (!(value > 0) || !Number.isFinite(value))
    throw new RangeError(`${what} must be a finite number > 0, got ${value}`);
}

/** The RDP curve of `mechanism` over `orders` (every value ≥ 0, +∞ for no noise). */
export function mechanismCurve(mechanism: Mechanism, orders: readonly number[] = DEFAULT_ORDERS): number[] {
  switch (mechanism.kind) {
    case 'sampled-gaussian':
      return rdpCurve(mechanism, orders);
    case 'gaussian':
      checkCount(mechanism.count);
      return rdpCurve(
        { noiseMultiplier: mechanism.noiseMultiplier, sampleRate: 1, steps: mechanism.count },
        orders,
      );
    case 'discrete-gaussian': {
      checkCount(mechanism.count);
      checkPositive(mechanism.sigma, 'sigma');
      checkPositive(mechanism.sensitivity, 'sensitivity');
      const { sigma, sensitivity, count } = mechanism;
      return orders.map((a) => count * rdpDiscreteGaussian(sigma, sensitivity, a));
    }
    case 'pure': {
      checkCount(mechanism.count);
      checkPositive(mechanism.epsilon, 'epsilon');
      const { epsilon, count } = mechanism;
      return orders.map((a) => count * Math.min(epsilon, (a * epsilon * epsilon) / 2));
    }
  }
}

/** One line for people: what the mechanism is, with its parameters. */
export function describeMechanism(mechanism: Mechanism): string {
  switch (mechanism.kind) {
    case 'sampled-gaussian':
      return `sampled Gaussian, σ = ${round(mechanism.noiseMultiplier)}, q = ${round(mechanism.sampleRate)}, ${mechanism.steps} steps`;
    case 'gaussian':
      return `Gaussian, σ/Δ = ${round(mechanism.noiseMultiplier)}, ${mechanism.count} releases`;
    case 'discrete-gaussian':
      return `discrete Gaussian, σ = ${round(mechanism.sigma)}, Δ = ${mechanism.sensitivity}, ${mechanism.count} releases`;
    case 'pure':
      return `pure ε = ${round(mechanism.epsilon)} (discrete Laplace), ${mechanism.count} releases`;
  }
}

const round = (x: number): string => String(Number(x.toPrecision(4)));
