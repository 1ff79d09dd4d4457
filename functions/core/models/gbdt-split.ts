/**
 * The split search of GBDT training: the best (feature, bin, missing direction) of a node from
 * its histogram, under the depth, leaf-size, hessian and monotone constraints.
 */
import { unpack } from './gbdt-histogram.ts';

export interface Split {
  readonly gain: number;
  readonly feature: number;
  readonly bin: number;
  readonly missingLeft: boolean;
  readonly leftValue: number;
  readonly rightValue: number;
  /** Quantised gradient and hessian sums of the left side. */
  readonly leftG: number;
  readonly leftH: number;
}

/** A node of the growing tree: its rows are `order[begin, end)`. */
export interface Node {
  readonly id: number;
  readonly begin: number;
  readonly end: number;
  readonly depth: number;
  /** Quantised gradient and hessian sums. */
  readonly g: number;
  readonly h: number;
  readonly lower: number;
  readonly upper: number;
  /** Packed quantised gradient and hessian sums per (feature, bin); dropped once split. */
  hist?: Float64Array;
  split?: Split | undefined;
}

/** What a split search needs of the tree being grown (fixed for the whole tree). */
export interface SplitContext {
  readonly maxDepth: number;
  readonly minSamplesLeaf: number;
  readonly minHessianLeaf: number;
  readonly lambda: number;
  /** Features this tree may split on (column sampling), and how many. */
  readonly allowed: Int32Array;
  readonly na: number;
  readonly offset: Int32Array;
  readonly bins: Int32Array;
  readonly monotone: readonly number[];
  /** Dequantisation scales of the gradient and hessian sums. */
  readonly gScale: number;
  readonly hScale: number;
}

/** A leaf's value from gradient and hessian sums, clamped to its monotone bounds. */
export function leafValue(g: number, h: number, lower: number, upper: number, lambda: number): number {
  return Math.min(upper, Math.max(lower, -g / (h + lambda)));
}

/** The best split of a node, or undefined when none gains or the node may not split. */
export function bestSplit(node: Node, c: SplitContext): Split | undefined {
  const { allowed, na, offset, bins, monotone, gScale, hScale } = c;
  const o = c;

  if (o.maxDepth > 0 && node.depth >= o.maxDepth) return undefined;
  const count = node.end - node.begin;
  if (count < 2 * o.minSamplesLeaf) return undefined;
  const hist = node.hist as Float64Array;
  const lambda = o.lambda;
  const perHessian = count / node.h; // rows per unit of quantised hessian, for count estimates
  const bounded = Number.isFinite(node.lower) || Number.isFinite(node.upper);
  const parentGain = (node.g * gScale) ** 2 / (node.h * hScale + lambda);
  // The objective's decrease for (possibly clamped) leaf value v: -(2Gv + (H+λ)v²).
  const gainOf = (G: number, H: number, v: number) => -(2 * G * v + (H + lambda) * v * v);
  let bestGain = 1e-12;
  let best: Split | undefined;
  for (let a = 0; a < na; a++) {
    const j = allowed[a] as number;
    const base = offset[j] as number;
    const missing = (bins[j] as number) - 1;
    const [gm, hm] = unpack(hist[base + missing] as number);
    const direction = monotone[j] ?? 0;
    const sides = hm > 0 ? 2 : 1;
    let sum = 0;
    for (let b = 0; b < missing - 1; b++) {
      const bin = hist[base + b] as number;
      if (bin === 0) continue; // an empty bin: the same partition as the previous one
      sum += bin;
      const [gl, hl] = unpack(sum);
      for (let side = 0; side < sides; side++) {
        const qgl = side === 1 ? gl + gm : gl;
        const qhl = side === 1 ? hl + hm : hl;
        const CL = Math.round(qhl * perHessian);
        const CR = count - CL;
        const GL = qgl * gScale;
        const HL = qhl * hScale;
        const GR = (node.g - qgl) * gScale;
        const HR = (node.h - qhl) * hScale;
        if (CL < o.minSamplesLeaf || CR < o.minSamplesLeaf || HL < o.minHessianLeaf || HR < o.minHessianLeaf)
          continue;
        let gain: number;
        let leftValue: number;
        let rightValue: number;
        if (!bounded && direction === 0) {
          gain = (GL * GL) / (HL + lambda) + (GR * GR) / (HR + lambda) - parentGain;
          if (gain <= bestGain) continue;
          leftValue = -GL / (HL + lambda);
          rightValue = -GR / (HR + lambda);
        } else {
          leftValue = leafValue(GL, HL, node.lower, node.upper, lambda);
          rightValue = leafValue(GR, HR, node.lower, node.upper, lambda);
          if ((direction > 0 && leftValue > rightValue) || (direction < 0 && leftValue < rightValue))
            continue;
          gain = gainOf(GL, HL, leftValue) + gainOf(GR, HR, rightValue) - parentGain;
          if (gain <= bestGain) continue;
        }
        bestGain = gain;
        best = {
          gain,
          feature: j,
          bin: b,
          missingLeft: side === 1,
          leftValue,
          rightValue,
          leftG: qgl,
          leftH: qhl,
        };
      }
    }
  }
  return best;
}
