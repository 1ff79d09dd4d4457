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
import { type Matrix, sigmoid } from '../linalg.ts';
import { Rng } from '../random.ts';
import { growTree, type Tree } from './gbdt-grow.ts';
import { binEdges, PACK, quantise } from './gbdt-histogram.ts';

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

export type { Tree } from './gbdt-grow.ts';

export interface GbdtModel {
  readonly kind: 'gbdt';
  readonly features: number;
  /** Raw score before the trees (log-odds of the base rate). */
  readonly baseScore: number;
  readonly trees: readonly Tree[];
  /** Trees kept (the best iteration under early stopping). */
  readonly bestIteration: number;
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

  const validation = options.earlyStopping;
  const validationScore = validation
    ? new Float64Array(validation.validation.rows).fill(baseScore)
    : undefined;
  let bestLoss = Number.POSITIVE_INFINITY;
  let bestIteration = 0;
  const trees: Tree[] = [];

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

    const { tree, leaves: open } = growTree(
      {
        maxDepth: o.maxDepth,
        minSamplesLeaf: o.minSamplesLeaf,
        minHessianLeaf: o.minHessianLeaf,
        lambda: o.lambda,
        allowed,
        na,
        offset,
        bins,
        monotone,
        gScale,
        hScale,
        maxLeaves: o.maxLeaves,
        learningRate: o.learningRate,
        n,
        d,
        histLength,
        edges,
        codes,
        columns,
        order,
        scratch,
        packed,
        gh,
        pool,
      },
      rowCount,
    );
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

/** The margin (log-odds) of class 1 for each row. */
export function gbdtMargins(model: GbdtModel, x: Matrix): Float64Array {
  if (x.cols !== model.features)
    throw new RangeError(`model has ${model.features} features, input has ${x.cols}`);
  const out = new Float64Array(x.rows);
  for (let i = 0; i < x.rows; i++) {
    let z = model.baseScore;
    for (const tree of model.trees) z += leafOf(tree, x.data, i * x.cols);
    out[i] = z;
  }
  return out;
}

/** Probability of class 1 for each row. */
export function predictGbdt(model: GbdtModel, x: Matrix): Float64Array {
  return gbdtMargins(model, x).map(sigmoid);
}
