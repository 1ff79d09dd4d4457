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
import { ValidationError } from '../../kernel/errors.ts';
import type { Matrix } from '../linalg.ts';
import { Rng } from '../random.ts';
import { bucketOf } from '../search.ts';

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
  /** Called after each tree with the number grown so far (progress bars). */
  readonly onIteration?: (trees: number, total: number) => void;
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
  const sampleRows = n > 200_000 ? rng.permutation(n).subarray(0, 200_000) : undefined;
  const m = sampleRows ? sampleRows.length : n;
  const column = new Float64Array(m);
  const edges: Float64Array[] = [];
  for (let j = 0; j < d; j++) {
    let present = 0;
    for (let k = 0; k < m; k++) {
      const v = data[(sampleRows ? (sampleRows[k] as number) : k) * d + j] as number;
      if (!Number.isNaN(v)) column[present++] = v;
    }
    // A typed-array sort is numeric and far faster than sorting boxed numbers.
    const values = column.subarray(0, present).sort();
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

/**
 * Bin codes, row-major (row i's codes are contiguous, one byte each); a feature's missing bin
 * is its last (edges.length + 1).
 */
function quantise(x: Matrix, edges: readonly Float64Array[]): Uint8Array {
  const { rows: n, cols: d, data } = x;
  const codes = new Uint8Array(n * d);
  for (let j = 0; j < d; j++) {
    const e = edges[j] as Float64Array;
    const missing = e.length + 1;
    for (let i = 0; i < n; i++) {
      const v = data[i * d + j] as number;
      if (Number.isNaN(v)) {
        codes[i * d + j] = missing;
        continue;
      }
      codes[i * d + j] = bucketOf(e, v);
    }
  }
  return codes;
}

/**
 * Gradients are quantised, as in LightGBM's `use_quantized_grad`: each row's gradient and
 * hessian become small integers (stochastic rounding) packed into one float64 as
 * `g·2^26 + h`. Sums of packed values stay exact integers below 2^53, so a histogram bin needs
 * one add instead of two: the histogram pass is the hot loop of training. Leaf values are then
 * renewed from the exact gradients, so only the choice of splits sees the quantisation.
 */
const PACK = 2 ** 26;

/** Splits a packed sum into its gradient and hessian integer sums. */
function unpack(v: number): [number, number] {
  const g = Math.floor(v / PACK);
  return [g, v - g * PACK];
}

/**
 * Adds rows `order[begin, end)` into a histogram: one pass over rows, each row's codes
 * contiguous. Like LightGBM, no counts are kept; a side's row count is estimated from its
 * hessian share. A top-level function with every array passed in, so V8 keeps them in
 * registers rather than reloading closure slots.
 */
function accumulate(
  hist: Float64Array,
  order: Int32Array,
  begin: number,
  end: number,
  packed: Float64Array,
  codes: Uint8Array,
  offset: Int32Array,
  d: number,
  allowed: Int32Array | undefined,
): Float64Array {
  if (allowed === undefined) {
    for (let k = begin; k < end; k++) {
      const i = order[k] as number;
      const v = packed[i] as number;
      const row = i * d;
      for (let j = 0; j < d; j++) {
        const b = (offset[j] as number) + (codes[row + j] as number);
        hist[b] = (hist[b] as number) + v;
      }
    }
    return hist;
  }
  const na = allowed.length;
  for (let k = begin; k < end; k++) {
    const i = order[k] as number;
    const v = packed[i] as number;
    const row = i * d;
    for (let a = 0; a < na; a++) {
      const j = allowed[a] as number;
      const b = (offset[j] as number) + (codes[row + j] as number);
      hist[b] = (hist[b] as number) + v;
    }
  }
  return hist;
}

/** Stable in-place partition of `order[begin, end)` by a split; returns the left side's size. */
function partition(
  order: Int32Array,
  scratch: Int32Array,
  begin: number,
  end: number,
  column: Uint8Array,
  missingBin: number,
  missingLeft: boolean,
  bin: number,
): number {
  let nl = 0;
  let nr = 0;
  for (let k = begin; k < end; k++) {
    const i = order[k] as number;
    const b = column[i] as number;
    if (b === missingBin ? missingLeft : b <= bin) order[begin + nl++] = i;
    else scratch[nr++] = i;
  }
  order.set(scratch.subarray(0, nr), begin + nl);
  return nl;
}

interface Split {
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
interface Node {
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
  const bins = Int32Array.from(edges, (e) => e.length + 2); // value bins + missing bin
  // Feature j's bins start at offset[j] in a node histogram.
  const offset = new Int32Array(d + 1);
  for (let j = 0; j < d; j++) offset[j + 1] = (offset[j] as number) + (bins[j] as number);
  const codes = quantise(x, edges);
  // A column-major copy of the local bins for partitioning: a split reads one feature of
  // scattered rows, which in the row-major codes would be a cache miss per row.
  const columns = new Uint8Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) columns[j * n + i] = codes[i * d + j] as number;
  const histLength = offset[d] as number;
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
  // Gradient and hessian of row i at 2i and 2i+1: one cache line for both.
  const gh = new Float64Array(2 * n);
  const packed = new Float64Array(n);
  // Quantisation levels, fewer for huge data so that packed sums stay exact below 2^53.
  const gLevels = Math.max(1, Math.min(31, Math.floor(PACK / n / 2)));
  const hLevels = Math.max(1, Math.min(63, Math.floor((PACK - 1) / n)));
  // Stochastic rounding noise from a xorshift32 seeded by the run's seed: cheap and deterministic.
  let noise = ((options.seed ?? 42) * 2654435761 + 1) | 0 || 1;
  const jitter = () => {
    noise ^= noise << 13;
    noise ^= noise >>> 17;
    noise ^= noise << 5;
    return (noise >>> 0) / 4294967296;
  };
  // Row indices of the tree being grown, partitioned in place node by node, and scratch space.
  const order = new Int32Array(n);
  const scratch = new Int32Array(n);
  // Histograms are recycled: a split parent's array becomes its larger child's.
  const pool: Float64Array[] = [];
  const takeHist = () => {
    const h = pool.pop();
    if (h) {
      h.fill(0);
      return h;
    }
    return new Float64Array(histLength);
  };

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
      gh[2 * i] = (w[i] as number) * (p - (y[i] as number));
      gh[2 * i + 1] = (w[i] as number) * Math.max(p * (1 - p), 1e-16);
    }
    let rowCount = 0;
    if (o.subsample < 1) {
      for (let i = 0; i < n; i++) if (rng.uniform() < o.subsample) order[rowCount++] = i;
    } else {
      for (let i = 0; i < n; i++) order[i] = i;
      rowCount = n;
    }
    let maxG = 0;
    let maxH = 0;
    for (let i = 0; i < n; i++) {
      maxG = Math.max(maxG, Math.abs(gh[2 * i] as number));
      maxH = Math.max(maxH, gh[2 * i + 1] as number);
    }
    const gScale = maxG > 0 ? maxG / gLevels : 1;
    const hScale = maxH > 0 ? maxH / hLevels : 1;
    for (let i = 0; i < n; i++) {
      const qg = Math.floor((gh[2 * i] as number) / gScale + jitter());
      const qh = Math.floor((gh[2 * i + 1] as number) / hScale + jitter());
      packed[i] = qg * PACK + qh;
    }
    const allowedList = Array.from({ length: d }, (_, j) => j).filter(
      () => o.colsample >= 1 || rng.uniform() < o.colsample,
    );
    if (allowedList.length === 0) allowedList.push(rng.int(0, d - 1));
    const allowed = Int32Array.from(allowedList);
    const na = allowed.length;

    const histogram = (begin: number, end: number): Float64Array =>
      accumulate(takeHist(), order, begin, end, packed, codes, offset, d, na === d ? undefined : allowed);

    const bestSplit = (node: Node): Split | undefined => {
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
            if (
              CL < o.minSamplesLeaf ||
              CR < o.minSamplesLeaf ||
              HL < o.minHessianLeaf ||
              HR < o.minHessianLeaf
            )
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
              leftValue = leafValue(GL, HL, node.lower, node.upper);
              rightValue = leafValue(GR, HR, node.lower, node.upper);
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
    for (let k = 0; k < rowCount; k++) {
      const [qg, qh] = unpack(packed[order[k] as number] as number);
      G += qg;
      H += qh;
    }
    const root: Node = {
      id: 0,
      begin: 0,
      end: rowCount,
      depth: 0,
      g: G,
      h: H,
      lower: Number.NEGATIVE_INFINITY,
      upper: Number.POSITIVE_INFINITY,
    };
    root.hist = histogram(0, rowCount);
    root.split = bestSplit(root);
    value[0] = 0; // leaf values are renewed from exact gradients once the tree is grown
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
      const missingBin = (bins[s.feature] as number) - 1;
      const column = columns.subarray(s.feature * n, (s.feature + 1) * n);
      // One stable pass partitions order[begin, end) in place (rows stay ascending, so the
      // histogram pass reads codes in memory order); the sides' sums come from the histogram.
      const nl = partition(order, scratch, node.begin, node.end, column, missingBin, s.missingLeft, s.bin);
      const nr = node.end - node.begin - nl;
      const gL = s.leftG;
      const hL = s.leftH;
      const sums = [gL, hL, node.g - gL, node.h - hL];
      const ranges = [
        [node.begin, node.begin + nl],
        [node.begin + nl, node.end],
      ] as const;
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
      const children = ranges.map(([begin, end], k): Node => {
        const id = feature.length;
        feature.push(-1);
        threshold.push(0);
        missingLeft.push(0);
        left.push(-1);
        right.push(-1);
        const g = sums[2 * k] as number;
        const h = sums[2 * k + 1] as number;
        value.push(0);
        return {
          id,
          begin,
          end,
          depth: node.depth + 1,
          g,
          h,
          lower: lower[k] as number,
          upper: upper[k] as number,
        };
      }) as [Node, Node];
      const [small, large] = nl <= nr ? children : [children[1], children[0]];
      const canSplit = (c: Node) =>
        (o.maxDepth <= 0 || c.depth < o.maxDepth) && c.end - c.begin >= 2 * o.minSamplesLeaf;
      const parentHist = node.hist as Float64Array;
      node.hist = undefined;
      if (canSplit(small) || canSplit(large)) {
        small.hist = histogram(small.begin, small.end);
        // The larger child's histogram is the parent's minus the smaller one's, in the parent's array.
        const smallHist = small.hist;
        for (let q = 0; q < histLength; q++)
          parentHist[q] = (parentHist[q] as number) - (smallHist[q] as number);
        large.hist = parentHist;
      } else pool.push(parentHist);
      feature[node.id] = s.feature;
      const e = edges[s.feature] as Float64Array;
      threshold[node.id] = s.bin < e.length ? (e[s.bin] as number) : Number.POSITIVE_INFINITY;
      missingLeft[node.id] = s.missingLeft ? 1 : 0;
      left[node.id] = children[0].id;
      right[node.id] = children[1].id;
      for (const child of children) {
        child.split = child.hist && canSplit(child) ? bestSplit(child) : undefined;
        if (child.hist && !child.split) {
          pool.push(child.hist);
          child.hist = undefined;
        }
        open.push(child);
      }
      leaves++;
    }
    for (const node of open) {
      if (node.hist) pool.push(node.hist);
      node.hist = undefined;
      // Renew the leaf value from the exact gradients of its rows, within its monotone bounds.
      let g = 0;
      let h = 0;
      for (let k = node.begin; k < node.end; k++) {
        const i = order[k] as number;
        g += gh[2 * i] as number;
        h += gh[2 * i + 1] as number;
      }
      value[node.id] = leafValue(g, h, node.lower, node.upper);
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
    if (rowCount === n) {
      // Every row sits in exactly one leaf's range: no tree traversal needed.
      for (const leaf of open) {
        const v = tree.value[leaf.id] as number;
        for (let k = leaf.begin; k < leaf.end; k++) {
          const i = order[k] as number;
          score[i] = (score[i] as number) + v;
        }
      }
    } else for (let i = 0; i < n; i++) score[i] = (score[i] as number) + leafOf(tree, x.data, i * d);

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
    options.onIteration?.(t + 1, o.trees);
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
