/**
 * Adversarial debiasing (Zhang, Lemoine & Mitchell, "Mitigating Unwanted Biases with
 * Adversarial Learning", AIES 2018) for logistic regression.
 *
 * Two models play: the predictor, a logistic regression on the model inputs, and an adversary,
 * a softmax regression that tries to tell the protected group from the predictor's score. For
 * demographic parity the adversary sees the score; for equalised odds the score beside the
 * label, `[s, s·y, s·(1−y), y]`: AIF360's inputs and y alone, so that what the label by itself
 * says of the group (their base rates differ) is the adversary's to learn and is not charged
 * to the predictor; for equal opportunity the score on the positive rows only. The score it
 * sees is `s = σ((1 + |c|)·logit)`, with `c` the adversary's own, as in AIF360.
 *
 * Each step the predictor moves along `∇L_P − proj_{∇L_A} ∇L_P − α·∇L_A` (the paper's update:
 * the projection removes the part of the predictor's gradient that would help the adversary,
 * `α` pushes against it), and the adversary descends its own loss; both from the same
 * parameters, with Adam. Full batch, so a run is deterministic and replayable step by step
 * against autograd (`test/fixtures/reference/generate_adversarial.py` with torch).
 *
 * The gradients are derived by hand: the predictor is linear and the adversary one softmax
 * layer, so the chain rule is a few lines, and no autodiff library earns its weight here.
 */
import { type Matrix, sigmoid } from '../linalg.ts';
import type { LogisticModel } from '../models/logistic.ts';
import type { FairnessConstraint } from './constraints.ts';

export interface AdversarialOptions {
  readonly constraint: FairnessConstraint;
  /** α: how hard the predictor pushes against the adversary. @default 1 */
  readonly adversaryWeight?: number;
  /** Full-batch Adam steps. @default 600 */
  readonly steps?: number;
  /** Adam's step size for the predictor. @default 0.01 */
  readonly learningRate?: number;
  /**
   * Adam's step size for the adversary. Ten times the predictor's: a slow adversary lags the
   * predictor, and the game oscillates (at 1× the held-out parity ratio swung 0.53–0.84 over
   * seeds; at 10× it reached 0.97–0.99). @default 10 × learningRate
   */
  readonly adversaryLearningRate?: number;
  /** Inverse L2 strength of the predictor, as `fitLogistic`'s C (the loss is a mean, the penalty ‖β‖²/(2Cn)). @default 1 */
  readonly C?: number;
  /** The predictor's starting point (the unconstrained fit, as the paper's warm start). @default zeros */
  readonly init?: { readonly coefficients: ArrayLike<number>; readonly intercept: number };
  /** Called every `every` steps with the players' losses. */
  readonly onStep?: (step: AdversarialStep) => void;
  /** @default 50 */
  readonly every?: number;
}

export interface AdversarialStep {
  readonly step: number;
  readonly predictorLoss: number;
  readonly adversaryLoss: number;
}

export interface AdversarialResult {
  readonly model: LogisticModel;
  readonly groups: readonly string[];
  /** The adversary's weights (`inputs × groups`, row-major), biases and `c`, as trained. */
  readonly adversary: { readonly weights: Float64Array; readonly biases: Float64Array; readonly c: number };
  /** Losses at the start and every `every` steps. */
  readonly history: readonly AdversarialStep[];
}

/** Adam's state for one parameter vector; `step` updates `theta` in place (torch's arithmetic). */
class Adam {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private readonly lr: number;
  private readonly beta1 = 0.9;
  private readonly beta2 = 0.999;
  private readonly eps = 1e-8;
  private t = 0;
  constructor(size: number, lr: number) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
    this.lr = lr;
  }
  step(theta: Float64Array, gradient: Float64Array): void {
    this.t++;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = Math.sqrt(1 - this.beta2 ** this.t);
    for (let j = 0; j < theta.length; j++) {
      const g = gradient[j] as number;
      const m = this.beta1 * (this.m[j] as number) + (1 - this.beta1) * g;
      const v = this.beta2 * (this.v[j] as number) + (1 - this.beta2) * g * g;
      this.m[j] = m;
      this.v[j] = v;
      theta[j] = (theta[j] as number) - (this.lr / c1) * (m / (Math.sqrt(v) / c2 + this.eps));
    }
  }
}

/**
 * One evaluation of both losses and their gradients at the current parameters: the
 * predictor's loss and gradient (θ = coefficients then intercept), the adversary's loss, its
 * gradient with respect to θ, and its gradient with respect to its own parameters
 * (weights, biases, then c). Exported for the finite-difference test.
 */
export function adversarialGradients(
  x: Matrix,
  y: ArrayLike<number>,
  groupIndex: Int32Array,
  groupCount: number,
  constraint: FairnessConstraint,
  theta: Float64Array,
  adversary: Float64Array,
  C: number,
): {
  predictorLoss: number;
  adversaryLoss: number;
  predictor: Float64Array;
  againstPredictor: Float64Array;
  adversary: Float64Array;
} {
  const { rows: n, cols: d, data } = x;
  const inputs = constraint === 'equalized-odds' ? 4 : 1;
  const K = groupCount;
  const biasAt = inputs * K;
  const cAt = biasAt + K;
  const c = adversary[cAt] as number;
  const scale = 1 + Math.abs(c);
  const predictor = new Float64Array(d + 1);
  const againstPredictor = new Float64Array(d + 1);
  const gAdversary = new Float64Array(adversary.length);
  let predictorLoss = 0;
  let adversaryLoss = 0;
  // The adversary plays on every row, or the positives only for equal opportunity.
  let played = 0;
  for (let i = 0; i < n; i++) if (constraint !== 'equal-opportunity' || y[i] === 1) played++;
  const z = new Float64Array(4);
  const logits = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    let logit = theta[d] as number;
    const row = i * d;
    for (let j = 0; j < d; j++) logit += (data[row + j] as number) * (theta[j] as number);
    const yi = y[i] as number;
    const p = sigmoid(logit);
    predictorLoss -= yi * Math.log(Math.max(p, 1e-300)) + (1 - yi) * Math.log(Math.max(1 - p, 1e-300));
    const dLogit = (p - yi) / n; // ∂L_P/∂logit
    let dAgainst = 0; // ∂L_A/∂logit
    if (constraint !== 'equal-opportunity' || yi === 1) {
      const s = sigmoid(scale * logit);
      z[0] = s;
      if (inputs === 4) {
        z[1] = s * yi;
        z[2] = s * (1 - yi);
        z[3] = yi;
      }
      let max = Number.NEGATIVE_INFINITY;
      for (let k = 0; k < K; k++) {
        let v = adversary[biasAt + k] as number;
        for (let q = 0; q < inputs; q++) v += (z[q] as number) * (adversary[q * K + k] as number);
        logits[k] = v;
        if (v > max) max = v;
      }
      let total = 0;
      for (let k = 0; k < K; k++) total += Math.exp((logits[k] as number) - max);
      const a = groupIndex[i] as number;
      adversaryLoss -= (logits[a] as number) - max - Math.log(total);
      // ∂L_A/∂s through the inputs z, from the softmax's error e_k = (p_k − 1[k = a]) / played.
      let dS = 0;
      for (let k = 0; k < K; k++) {
        const e = (Math.exp((logits[k] as number) - max) / total - (k === a ? 1 : 0)) / played;
        gAdversary[biasAt + k] = (gAdversary[biasAt + k] as number) + e;
        for (let q = 0; q < inputs; q++) {
          gAdversary[q * K + k] = (gAdversary[q * K + k] as number) + (z[q] as number) * e;
        }
        const dz0 = adversary[k] as number;
        // z₃ = y does not depend on the score: no term.
        dS +=
          e *
          (inputs === 4
            ? dz0 + (adversary[K + k] as number) * yi + (adversary[2 * K + k] as number) * (1 - yi)
            : dz0);
      }
      const ds = s * (1 - s);
      dAgainst = dS * ds * scale;
      gAdversary[cAt] = (gAdversary[cAt] as number) + dS * ds * logit * Math.sign(c);
    }
    if (dLogit !== 0 || dAgainst !== 0) {
      for (let j = 0; j < d; j++) {
        const v = data[row + j] as number;
        predictor[j] = (predictor[j] as number) + dLogit * v;
        againstPredictor[j] = (againstPredictor[j] as number) + dAgainst * v;
      }
      predictor[d] = (predictor[d] as number) + dLogit;
      againstPredictor[d] = (againstPredictor[d] as number) + dAgainst;
    }
  }
  predictorLoss /= n;
  adversaryLoss /= played || 1;
  // The L2 penalty ‖β‖²/(2Cn), the intercept unpenalised: fitLogistic's objective over n.
  for (let j = 0; j < d; j++) {
    const w = theta[j] as number;
    predictorLoss += (w * w) / (2 * C * n);
    predictor[j] = (predictor[j] as number) + w / (C * n);
  }
  return { predictorLoss, adversaryLoss, predictor, againstPredictor, adversary: gAdversary };
}

/**
 * Trains a logistic regression against an adversary guessing `groups` from its score.
 * `x` is the model inputs after the feature pipeline (the protected attribute is not among
 * them: the adversary uses it, the predictor never sees it).
 */
export function adversarialDebiasing(
  x: Matrix,
  y: ArrayLike<number>,
  groups: readonly string[],
  options: AdversarialOptions,
): AdversarialResult {
  const { rows: n, cols: d } = x;
  if (y.length !== n || groups.length !== n)
    throw new RangeError(`expected ${n} labels and groups, got ${y.length} and ${groups.length}`);
  const names = [...new Set(groups)].sort();
  const index = new Map(names.map((g, k) => [g, k]));
  const groupIndex = Int32Array.from(groups, (g) => index.get(g) as number);
  const K = names.length;
  const inputs = options.constraint === 'equalized-odds' ? 4 : 1;
  const alpha = options.adversaryWeight ?? 1;
  const C = options.C ?? 1;
  const steps = options.steps ?? 600;
  const every = options.every ?? 50;
  const lr = options.learningRate ?? 0.01;
  const theta = new Float64Array(d + 1);
  if (options.init) {
    theta.set(Array.from(options.init.coefficients));
    theta[d] = options.init.intercept;
  }
  // The adversary starts knowing nothing (uniform over groups), with c = 1 as AIF360.
  const adversary = new Float64Array(inputs * K + K + 1);
  adversary[inputs * K + K] = 1;
  const predictorAdam = new Adam(d + 1, lr);
  const adversaryAdam = new Adam(adversary.length, options.adversaryLearningRate ?? 10 * lr);
  const history: AdversarialStep[] = [];
  const direction = new Float64Array(d + 1);
  for (let step = 0; step <= steps; step++) {
    const g = adversarialGradients(x, y, groupIndex, K, options.constraint, theta, adversary, C);
    if (step % every === 0 || step === steps) {
      const entry = { step, predictorLoss: g.predictorLoss, adversaryLoss: g.adversaryLoss };
      history.push(entry);
      options.onStep?.(entry);
    }
    if (step === steps) break;
    // ∇L_P − proj_{∇L_A} ∇L_P − α·∇L_A
    let dot = 0;
    let norm = 0;
    for (let j = 0; j <= d; j++) {
      dot += (g.predictor[j] as number) * (g.againstPredictor[j] as number);
      norm += (g.againstPredictor[j] as number) ** 2;
    }
    const projection = norm > 0 ? dot / norm : 0;
    for (let j = 0; j <= d; j++) {
      const against = g.againstPredictor[j] as number;
      direction[j] = (g.predictor[j] as number) - projection * against - alpha * against;
    }
    predictorAdam.step(theta, direction);
    adversaryAdam.step(adversary, g.adversary);
  }
  return {
    model: {
      kind: 'logistic',
      coefficients: theta.slice(0, d),
      intercept: theta[d] as number,
      iterations: steps,
      converged: true,
    },
    groups: names,
    adversary: {
      weights: adversary.slice(0, inputs * K),
      biases: adversary.slice(inputs * K, inputs * K + K),
      c: adversary[inputs * K + K] as number,
    },
    history,
  };
}
