/**
 * Histogram-based gradient-boosted decision trees for binary classification (log loss), in the
 * manner of LightGBM: features are quantised into at most 255 bins once, each tree grows
 * leaf-wise (best gain first) within depth and leaf limits from per-node gradient histograms
 * (a child's histogram is its parent's minus its sibling's), missing values learn their own
 * direction at every split, and optional monotonic constraints bound leaf values.
 *
 * Written by hand because no maintained JavaScript GBDT trains with these features; the
 * tests hold it to LightGBM's AUC on the same data.
 */
import { ValidationError } from '../../commons/errors.ts';
import type { Matrix } from '../linalg.ts';
import { Rng } from '../random.ts';

export interface GbdtOptions {
  /** @default 100 */
  readonly trees?: number;
  /** @default 0.1 */
  readonly learningRate?: number;
  /** Maximum depth of a tree; 0 for none. @default 6 */
  readonly maxDepth?: number;
  /** @default 31 */
  readonly maxLeaves?: number;
  /** Minimum rows in a leaf. @default 20 */
  readonly minSamplesLeaf?: number;
  /** Minimum hessian sum in a leaf. @default 1e-3 */
  readonly minHessianLeaf?: number;
  /** L2 regularisation of leaf values. @default 0 */
  readonly lambda?: number;
  /** @default 255 */
  readonly maxBins?: number;
  /** Share of rows each tree sees. @default 1 */
  readonly subsample?: number;
  /** Share of features each tree may split on. @default 1 */
  readonly colsample?: number;
  readonly sampleWeight?: ArrayLike<number>;
  /** Per feature: 1 increasing, -1 decreasing, 0 free. @default all free */
  readonly monotone?: readonly number[];
  /** Stop when validation log loss has not improved for `rounds` trees; keep the best. */
  readonly earlyStopping?: {
    readonly validation: Matrix;
    readonly labels: ArrayLike<number>;
    readonly rounds?: number;
  };
  /** @default 42 */
  readonly seed?: number;
}

/** A tree as flat arrays; node 0 is the root. A leaf has feature -1. */
export interface Tree {
  readonly feature: Int32Array;
  /** Go left when value <= threshold. */
  readonly threshold: Float64Array;
  /** Go left when the value is missing. */
  readonly missingLeft: Uint8Array;
  readonly left: Int32Array;
  readonly right: Int32Array;
  /** Leaf output (already scaled by the learning rate). */
  readonly value: Float64Array;
}

export interface GbdtModel {
  readonly kind: 'gbdt';
  readonly features: number;
  /** Raw score before the trees (log-odds of the base rate). */
  readonly baseScore: number;
  readonly trees: readonly Tree[];
  /** Trees kept (the best iteration under early stopping). */
  readonly bestIteration: number;
}

const sigmoid = (z: number) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/** Quantile bin upper edges per feature (from up to 200k rows); bin k holds values <= edges[k]. */
function binEdges(x: Matrix, maxBins: number, rng: Rng): Float64Array[] {
  const { rows: n, cols: d, data } = x;
  const sampleRows =
    n > 200_000
      ? Array.from(rng.permutation(n).subarray(0, 200_000))
      : Array.from({ length: n }, (_, i) => i);
  const edges: Float64Array[] = [];
  for (let j = 0; j < d; j++) {
    const values = sampleRows
      .map((i) => data[i * d + j] as number)
      .filter((v) => !Number.isNaN(v))
      .sort((a, b) => a - b);
    const distinct: number[] = [];
    for (const v of values) if (distinct.at(-1) !== v) distinct.push(v);
    if (distinct.length <= maxBins - 1) {
      // Few distinct values: one bin each, split halfway between neighbours.
      edges.push(
        Float64Array.from(distinct.slice(0, -1).map((v, k) => (v + (distinct[k + 1] as number)) / 2)),
      );
      continue;
    }
    // Quantile cut points, each moved halfway to the next distinct value: a threshold never
    // equals a data value, so a 1-ulp difference in an upstream transform (log in V8 vs
    // onnxruntime) cannot send a row the other way at serving time.
    const cut: number[] = [];
    for (let b = 1; b < maxBins - 1; b++) {
      const v = values[Math.floor((b * values.length) / (maxBins - 1))] as number;
      let lo = 0;
      let hi = distinct.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((distinct[mid] as number) <= v) lo = mid + 1;
        else hi = mid;
      }
      const next = distinct[lo] as number;
      if (next <= v) continue; // v is the largest value: nothing to split off above it
      const edge = (v + next) / 2;
      if (cut.at(-1) !== edge) cut.push(edge);
    }
    edges.push(Float64Array.from(cut));
  }
  return edges;
}

/** Bin codes, column-major; the missing bin is the last one (edges.length + 1). */
function quantise(x: Matrix, edges: readonly Float64Array[]): Uint8Array[] {
  const { rows: n, cols: d, data } = x;
  return edges.map((e, j) => {
    const codes = new Uint8Array(n);
    const missing = e.length + 1;
    for (let i = 0; i < n; i++) {
      const v = data[i * d + j] as number;
      if (Number.isNaN(v)) {
        codes[i] = missing;
        continue;
      }
      let lo = 0;
      let hi = e.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (v <= (e[mid] as number)) hi = mid;
        else lo = mid + 1;
      }
      codes[i] = lo;
    }
    return codes;
  });
}

interface Split {
  readonly gain: number;
  readonly feature: number;
  readonly bin: number;
  readonly missingLeft: boolean;
  readonly leftValue: number;
  readonly rightValue: number;
}

interface Node {
  readonly id: number;
  readonly rows: Int32Array;
  readonly depth: number;
  readonly g: number;
  readonly h: number;
  readonly lower: number;
  readonly upper: number;
  hist?: Float64Array[];
  split?: Split | undefined;
}

export function fitGbdt(x: Matrix, y: ArrayLike<number>, options: GbdtOptions = {}): GbdtModel {
  const { rows: n, cols: d } = x;
  if (y.length !== n)
    throw new ValidationError('Invalid labels', [{ path: 'y', message: `${y.length} labels for ${n} rows` }]);
  const o = {
    trees: options.trees ?? 100,
    learningRate: options.learningRate ?? 0.1,
    maxDepth: options.maxDepth ?? 6,
    maxLeaves: options.maxLeaves ?? 31,
    minSamplesLeaf: options.minSamplesLeaf ?? 20,
    minHessianLeaf: options.minHessianLeaf ?? 1e-3,
    lambda: options.lambda ?? 0,
    maxBins: Math.min(255, options.maxBins ?? 255),
    subsample: options.subsample ?? 1,
    colsample: options.colsample ?? 1,
  };
  const monotone = options.monotone ?? [];
  if (monotone.length > 0 && monotone.length !== d) {
    throw new ValidationError('Invalid monotone constraints', [
      { path: 'monotone', message: `${monotone.length} constraints for ${d} features` },
    ]);
  }
  const rng = new Rng(options.seed ?? 42);
  const edges = binEdges(x, o.maxBins, rng);
  const codes = quantise(x, edges);
  const bins = edges.map((e) => e.length + 2); // value bins + missing bin
  const w = Float64Array.from({ length: n }, (_, i) => options.sampleWeight?.[i] ?? 1);

  let sw = 0;
  let swy = 0;
  for (let i = 0; i < n; i++) {
    sw += w[i] as number;
    swy += (w[i] as number) * (y[i] as number);
  }
  const rate = Math.min(1 - 1e-6, Math.max(1e-6, swy / sw));
  const baseScore = Math.log(rate / (1 - rate));
  const score = new Float64Array(n).fill(baseScore);
  const grad = new Float64Array(n);
  const hess = new Float64Array(n);

  const validation = options.earlyStopping;
  const validationScore = validation
    ? new Float64Array(validation.validation.rows).fill(baseScore)
    : undefined;
  let bestLoss = Number.POSITIVE_INFINITY;
  let bestIteration = 0;
  const trees: Tree[] = [];

  const leafValue = (g: number, h: number, lower: number, upper: number) =>
    Math.min(upper, Math.max(lower, -g / (h + o.lambda)));

  for (let t = 0; t < o.trees; t++) {
    for (let i = 0; i < n; i++) {
      const p = sigmoid(score[i] as number);
      grad[i] = (w[i] as number) * (p - (y[i] as number));
      hess[i] = (w[i] as number) * Math.max(p * (1 - p), 1e-16);
    }
    let rows: Int32Array;
    if (o.subsample < 1) {
      const chosen: number[] = [];
      for (let i = 0; i < n; i++) if (rng.uniform() < o.subsample) chosen.push(i);
      rows = Int32Array.from(chosen);
    } else {
      rows = new Int32Array(n);
      for (let i = 0; i < n; i++) rows[i] = i;
    }
    const allowed = Array.from({ length: d }, (_, j) => j).filter(
      () => o.colsample >= 1 || rng.uniform() < o.colsample,
    );
    if (allowed.length === 0) allowed.push(rng.int(0, d - 1));

    const histogram = (nodeRows: Int32Array) =>
      allowed.map((j) => {
        const hist = new Float64Array((bins[j] as number) * 3);
        const c = codes[j] as Uint8Array;
        for (const i of nodeRows) {
          const b = (c[i] as number) * 3;
          hist[b] = (hist[b] as number) + (grad[i] as number);
          hist[b + 1] = (hist[b + 1] as number) + (hess[i] as number);
          hist[b + 2] = (hist[b + 2] as number) + 1;
        }
        return hist;
      });

    const bestSplit = (node: Node): Split | undefined => {
      if (o.maxDepth > 0 && node.depth >= o.maxDepth) return undefined;
      if (node.rows.length < 2 * o.minSamplesLeaf) return undefined;
      const parentGain = (node.g * node.g) / (node.h + o.lambda);
      // Gain of the (possibly clamped) leaf values, as the objective's decrease.
      const gainOf = (G: number, H: number, v: number) => -(2 * G * v + (H + o.lambda) * v * v);
      let best: Split | undefined;
      (node.hist as Float64Array[]).forEach((hist, k) => {
        const j = allowed[k] as number;
        const nb = bins[j] as number;
        const missing = nb - 1;
        const gm = hist[missing * 3] as number;
        const hm = hist[missing * 3 + 1] as number;
        const cm = hist[missing * 3 + 2] as number;
        let gl = 0;
        let hl = 0;
        let cl = 0;
        for (let b = 0; b < missing - 1; b++) {
          gl += hist[b * 3] as number;
          hl += hist[b * 3 + 1] as number;
          cl += hist[b * 3 + 2] as number;
          for (let side = 0; side < (cm > 0 ? 2 : 1); side++) {
            const missingLeft = side === 1;
            const GL = gl + (missingLeft ? gm : 0);
            const HL = hl + (missingLeft ? hm : 0);
            const CL = cl + (missingLeft ? cm : 0);
            const GR = node.g - GL;
            const HR = node.h - HL;
            const CR = node.rows.length - CL;
            if (
              CL < o.minSamplesLeaf ||
              CR < o.minSamplesLeaf ||
              HL < o.minHessianLeaf ||
              HR < o.minHessianLeaf
            )
              continue;
            const leftValue = leafValue(GL, HL, node.lower, node.upper);
            const rightValue = leafValue(GR, HR, node.lower, node.upper);
            const direction = monotone[j] ?? 0;
            if ((direction > 0 && leftValue > rightValue) || (direction < 0 && leftValue < rightValue))
              continue;
            const gain = gainOf(GL, HL, leftValue) + gainOf(GR, HR, rightValue) - parentGain;
            if (gain > 1e-12 && (best === undefined || gain > best.gain)) {
              best = { gain, feature: j, bin: b, missingLeft, leftValue, rightValue };
            }
          }
        }
      });
      return best;
    };

    // Leaf-wise growth.
    const feature: number[] = [-1];
    const threshold: number[] = [0];
    const missingLeft: number[] = [0];
    const left: number[] = [-1];
    const right: number[] = [-1];
    const value: number[] = [0];
    let G = 0;
    let H = 0;
    for (const i of rows) {
      G += grad[i] as number;
      H += hess[i] as number;
    }
    const root: Node = {
      id: 0,
      rows,
      depth: 0,
      g: G,
      h: H,
      lower: Number.NEGATIVE_INFINITY,
      upper: Number.POSITIVE_INFINITY,
    };
    root.hist = histogram(rows);
    root.split = bestSplit(root);
    value[0] = leafValue(G, H, root.lower, root.upper);
    const open: Node[] = [root];
    let leaves = 1;
    while (leaves < o.maxLeaves) {
      let pick = -1;
      for (let k = 0; k < open.length; k++) {
        const s = open[k]?.split;
        if (s && (pick < 0 || s.gain > (open[pick]?.split?.gain as number))) pick = k;
      }
      if (pick < 0) break;
      const node = open.splice(pick, 1)[0] as Node;
      const s = node.split as Split;
      const c = codes[s.feature] as Uint8Array;
      const missingBin = (bins[s.feature] as number) - 1;
      // One pass partitions the rows and sums each side's gradients and hessians.
      const leftBuffer = new Int32Array(node.rows.length);
      const rightBuffer = new Int32Array(node.rows.length);
      let nl = 0;
      let nr = 0;
      const sums = [0, 0, 0, 0]; // gL, hL, gR, hR
      for (const i of node.rows) {
        const b = c[i] as number;
        if (b === missingBin ? s.missingLeft : b <= s.bin) {
          leftBuffer[nl++] = i;
          sums[0] = (sums[0] as number) + (grad[i] as number);
          sums[1] = (sums[1] as number) + (hess[i] as number);
        } else {
          rightBuffer[nr++] = i;
          sums[2] = (sums[2] as number) + (grad[i] as number);
          sums[3] = (sums[3] as number) + (hess[i] as number);
        }
      }
      const leftRows = leftBuffer.subarray(0, nl);
      const rightRows = rightBuffer.subarray(0, nr);
      let lower = [node.lower, node.lower];
      let upper = [node.upper, node.upper];
      const direction = monotone[s.feature] ?? 0;
      if (direction !== 0) {
        const mid = (s.leftValue + s.rightValue) / 2;
        if (direction > 0) {
          upper = [mid, node.upper];
          lower = [node.lower, mid];
        } else {
          lower = [mid, node.lower];
          upper = [node.upper, mid];
        }
      }
      const children = [leftRows, rightRows].map((r, k) => {
        const id = feature.length;
        feature.push(-1);
        threshold.push(0);
        missingLeft.push(0);
        left.push(-1);
        right.push(-1);
        const g = sums[2 * k] as number;
        const h = sums[2 * k + 1] as number;
        value.push(leafValue(g, h, lower[k] as number, upper[k] as number));
        return {
          id,
          rows: r,
          depth: node.depth + 1,
          g,
          h,
          lower: lower[k] as number,
          upper: upper[k] as number,
        } as Node;
      });
      const [small, large] = leftRows.length <= rightRows.length ? children : [children[1], children[0]];
      (small as Node).hist = histogram((small as Node).rows);
      // The larger child's histogram is the parent's minus the smaller one's: no pass over its rows.
      const smallHist = (small as Node).hist as Float64Array[];
      (large as Node).hist = (node.hist as Float64Array[]).map((parent, k) => {
        const other = smallHist[k] as Float64Array;
        const out = new Float64Array(parent.length);
        for (let q = 0; q < parent.length; q++) out[q] = (parent[q] as number) - (other[q] as number);
        return out;
      });
      node.hist = undefined;
      feature[node.id] = s.feature;
      const e = edges[s.feature] as Float64Array;
      threshold[node.id] = s.bin < e.length ? (e[s.bin] as number) : Number.POSITIVE_INFINITY;
      missingLeft[node.id] = s.missingLeft ? 1 : 0;
      left[node.id] = (children[0] as Node).id;
      right[node.id] = (children[1] as Node).id;
      for (const child of children) {
        child.split = bestSplit(child);
        open.push(child);
      }
      leaves++;
    }

    const tree: Tree = {
      feature: Int32Array.from(feature),
      threshold: Float64Array.from(threshold),
      missingLeft: Uint8Array.from(missingLeft),
      left: Int32Array.from(left),
      right: Int32Array.from(right),
      value: Float64Array.from(value, (v) => v * o.learningRate),
    };
    trees.push(tree);
    for (let i = 0; i < n; i++) score[i] = (score[i] as number) + leafOf(tree, x.data, i * d);

    if (validation && validationScore) {
      const vx = validation.validation;
      let loss = 0;
      for (let i = 0; i < vx.rows; i++) {
        validationScore[i] = (validationScore[i] as number) + leafOf(tree, vx.data, i * vx.cols);
        const p = Math.min(1 - 1e-15, Math.max(1e-15, sigmoid(validationScore[i] as number)));
        loss -= validation.labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
      }
      if (loss < bestLoss - 1e-12) {
        bestLoss = loss;
        bestIteration = t + 1;
      } else if (t + 1 - bestIteration >= (validation.rounds ?? 10)) break;
    } else bestIteration = t + 1;
  }
  return { kind: 'gbdt', features: d, baseScore, trees: trees.slice(0, bestIteration), bestIteration };
}

/** The leaf output of `tree` for the row starting at `offset` in row-major `data`. */
function leafOf(tree: Tree, data: Float64Array, offset: number): number {
  let node = 0;
  while ((tree.feature[node] as number) >= 0) {
    const v = data[offset + (tree.feature[node] as number)] as number;
    const goLeft = Number.isNaN(v) ? tree.missingLeft[node] === 1 : v <= (tree.threshold[node] as number);
    node = goLeft ? (tree.left[node] as number) : (tree.right[node] as number);
  }
  return tree.value[node] as number;
}

/** Probability of class 1 for each row. */
export function predictGbdt(model: GbdtModel, x: Matrix): Float64Array {
  if (x.cols !== model.features)
    throw new RangeError(`model has ${model.features} features, input has ${x.cols}`);
  const out = new Float64Array(x.rows);
  for (let i = 0; i < x.rows; i++) {
    let z = model.baseScore;
    for (const tree of model.trees) z += leafOf(tree, x.data, i * x.cols);
    out[i] = sigmoid(z);
  }
  return out;
}
