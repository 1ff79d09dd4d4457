/**
 * Exact SHAP values of a tree ensemble's margin (log-odds for Keel's GBDT), in the two senses
 * `shap.TreeExplainer` offers:
 *
 * - **Path-dependent** (Lundberg, Erion & Lee 2018, "Consistent individualized feature
 *   attribution for tree ensembles", Algorithm 2): a missing feature is integrated out along
 *   the tree's own paths, weighted by the training rows each branch received (node covers).
 *   O(T·L·D²) per row; no background data.
 * - **Interventional** (Lundberg et al. 2020, "From local explanations to global understanding
 *   with explainable AI for trees", the independent-features algorithm): Shapley values of the
 *   game v(S) = f(x_S, z_S̄) for each background row z, averaged over the background. Each
 *   (row, background row) pair walks only the branches where x and z part, O(T·L·D).
 *
 * Either way `baseValue + Σ φ = margin(x)`. Written here because no JavaScript library
 * implements TreeSHAP; `test/fixtures/reference/generate_treeshap.py` checks both against
 * shap's C++ implementation.
 */
import type { Matrix } from '../linalg.ts';
import type { Tree } from '../models/gbdt-grow.ts';

/**
 * One tree, as Keel's GBDT stores it (a node is a leaf when `feature` is negative), with node
 * covers optional: trees read back from ONNX have none, and only path-dependent SHAP needs them.
 */
export type ExplainedTree = Omit<Tree, 'cover'> & { readonly cover?: Float64Array };

export interface ExplainedEnsemble {
  /** The margin's constant term (the GBDT's base score). */
  readonly baseScore: number;
  readonly trees: readonly ExplainedTree[];
  /** Model inputs (columns of the matrices passed in). */
  readonly features: number;
}

export interface ShapValues {
  /** The expected margin: over the training distribution (path-dependent) or the background. */
  readonly baseValue: number;
  /** Row-major, `rows × features`: each row's contribution of each model input to its margin. */
  readonly values: Float64Array;
  /** Each row's margin, `baseValue + Σ values` to rounding. */
  readonly margins: Float64Array;
}

function goesLeft(tree: ExplainedTree, node: number, v: number): boolean {
  return Number.isNaN(v) ? tree.missingLeft[node] === 1 : v <= (tree.threshold[node] as number);
}

function treeOutput(tree: ExplainedTree, data: ArrayLike<number>, offset: number): number {
  let node = 0;
  while ((tree.feature[node] as number) >= 0) {
    const v = data[offset + (tree.feature[node] as number)] as number;
    node = goesLeft(tree, node, v) ? (tree.left[node] as number) : (tree.right[node] as number);
  }
  return tree.value[node] as number;
}

function maxDepth(tree: ExplainedTree, node = 0): number {
  if ((tree.feature[node] as number) < 0) return 0;
  return 1 + Math.max(maxDepth(tree, tree.left[node] as number), maxDepth(tree, tree.right[node] as number));
}

function checkShape(model: ExplainedEnsemble, x: Matrix, what: string): void {
  if (x.cols !== model.features)
    throw new RangeError(`${what} has ${x.cols} columns; the model has ${model.features} inputs`);
}

// ── Path-dependent ────────────────────────────────────────────────────────────────────────

/**
 * The paths of Algorithm 2, in one pool: the segment of recursion depth k starts at
 * k·(k+1)/2 and holds k+1 elements, each a feature with the fractions of the "zero" (feature
 * absent: the cover share) and "one" (present: whether x goes this way) paths and its weight.
 */
class PathPool {
  readonly feature: Int32Array;
  readonly zero: Float64Array;
  readonly one: Float64Array;
  readonly weight: Float64Array;

  constructor(depth: number) {
    const size = ((depth + 2) * (depth + 3)) / 2;
    this.feature = new Int32Array(size);
    this.zero = new Float64Array(size);
    this.one = new Float64Array(size);
    this.weight = new Float64Array(size);
  }

  copy(from: number, to: number, length: number): void {
    this.feature.copyWithin(to, from, from + length);
    this.zero.copyWithin(to, from, from + length);
    this.one.copyWithin(to, from, from + length);
    this.weight.copyWithin(to, from, from + length);
  }

  /** Appends an element at `depth` (the path's length so far) and updates every weight. */
  extend(at: number, depth: number, zero: number, one: number, feature: number): void {
    const { weight } = this;
    this.feature[at + depth] = feature;
    this.zero[at + depth] = zero;
    this.one[at + depth] = one;
    weight[at + depth] = depth === 0 ? 1 : 0;
    for (let i = depth - 1; i >= 0; i--) {
      weight[at + i + 1] =
        (weight[at + i + 1] as number) + (one * (weight[at + i] as number) * (i + 1)) / (depth + 1);
      weight[at + i] = (zero * (weight[at + i] as number) * (depth - i)) / (depth + 1);
    }
  }

  /** Removes element `index` from the path of length `depth + 1`, undoing its `extend`. */
  unwind(at: number, depth: number, index: number): void {
    const { weight } = this;
    const one = this.one[at + index] as number;
    const zero = this.zero[at + index] as number;
    let next = weight[at + depth] as number;
    for (let i = depth - 1; i >= 0; i--) {
      if (one !== 0) {
        const kept = weight[at + i] as number;
        weight[at + i] = (next * (depth + 1)) / ((i + 1) * one);
        next = kept - ((weight[at + i] as number) * zero * (depth - i)) / (depth + 1);
      } else {
        weight[at + i] = ((weight[at + i] as number) * (depth + 1)) / (zero * (depth - i));
      }
    }
    for (let i = index; i < depth; i++) {
      this.feature[at + i] = this.feature[at + i + 1] as number;
      this.zero[at + i] = this.zero[at + i + 1] as number;
      this.one[at + i] = this.one[at + i + 1] as number;
    }
  }

  /** The total weight the path would have with element `index` unwound, without unwinding it. */
  unwoundSum(at: number, depth: number, index: number): number {
    const { weight } = this;
    const one = this.one[at + index] as number;
    const zero = this.zero[at + index] as number;
    let next = weight[at + depth] as number;
    let total = 0;
    for (let i = depth - 1; i >= 0; i--) {
      if (one !== 0) {
        const w = (next * (depth + 1)) / ((i + 1) * one);
        total += w;
        next = (weight[at + i] as number) - (w * zero * (depth - i)) / (depth + 1);
      } else {
        total += (weight[at + i] as number) / zero / ((depth - i) / (depth + 1));
      }
    }
    return total;
  }
}

function pathDependentTree(
  tree: ExplainedTree,
  cover: Float64Array,
  data: ArrayLike<number>,
  offset: number,
  phi: Float64Array,
  pool: PathPool,
): void {
  /**
   * One node, reached at recursion `level` with a path of `depth` elements before the split
   * that led here (`zero`, `one`, `feature`). Each level has its own segment of the pool, so a
   * node's path stays intact for its second child; the path can be shorter than the level once
   * splits on a repeated feature were unwound.
   */
  const recurseFrom = (
    node: number,
    parentAt: number,
    depth: number,
    zero: number,
    one: number,
    feature: number,
    level: number,
  ): void => {
    const at = (level * (level + 1)) / 2;
    if (depth > 0) pool.copy(parentAt, at, depth);
    pool.extend(at, depth, zero, one, feature);
    const split = tree.feature[node] as number;
    if (split < 0) {
      const value = tree.value[node] as number;
      for (let i = 1; i <= depth; i++) {
        const w = pool.unwoundSum(at, depth, i);
        const f = pool.feature[at + i] as number;
        phi[f] =
          (phi[f] as number) + w * ((pool.one[at + i] as number) - (pool.zero[at + i] as number)) * value;
      }
      return;
    }
    const left = tree.left[node] as number;
    const right = tree.right[node] as number;
    const hot = goesLeft(tree, node, data[offset + split] as number) ? left : right;
    const cold = hot === left ? right : left;
    const here = cover[node] as number;
    let incomingZero = 1;
    let incomingOne = 1;
    let pathDepth = depth;
    // A feature split on again higher up: undo that split, then redo it with both fractions.
    let k = 0;
    while (k <= depth && (pool.feature[at + k] as number) !== split) k++;
    if (k <= depth) {
      incomingZero = pool.zero[at + k] as number;
      incomingOne = pool.one[at + k] as number;
      pool.unwind(at, depth, k);
      pathDepth -= 1;
    }
    const childDepth = pathDepth + 1;
    recurseFrom(
      hot,
      at,
      childDepth,
      ((cover[hot] as number) / here) * incomingZero,
      incomingOne,
      split,
      level + 1,
    );
    recurseFrom(cold, at, childDepth, ((cover[cold] as number) / here) * incomingZero, 0, split, level + 1);
  };
  recurseFrom(0, 0, 0, 1, 1, -1, 0);
}

/** The cover-weighted mean leaf output: the tree's expected value over its training rows. */
function expectedOutput(tree: ExplainedTree, cover: Float64Array): number {
  let sum = 0;
  const root = cover[0] as number;
  for (let node = 0; node < tree.feature.length; node++)
    if ((tree.feature[node] as number) < 0)
      sum += ((cover[node] as number) / root) * (tree.value[node] as number);
  return sum;
}

/**
 * Path-dependent TreeSHAP of each row of `x` (model inputs, NaN for missing): needs every
 * tree's node covers.
 */
export function pathDependentShap(model: ExplainedEnsemble, x: Matrix): ShapValues {
  checkShape(model, x, 'the data');
  const d = model.features;
  const values = new Float64Array(x.rows * d);
  const margins = new Float64Array(x.rows);
  let baseValue = model.baseScore;
  const covers = model.trees.map((tree, t) => {
    if (!tree.cover) throw new RangeError(`tree ${t} has no node covers: path-dependent SHAP needs them`);
    if (!((tree.cover[0] as number) > 0)) throw new RangeError(`tree ${t} has no training rows at its root`);
    return tree.cover;
  });
  const pools = model.trees.map((tree) => new PathPool(maxDepth(tree)));
  model.trees.forEach((tree, t) => {
    baseValue += expectedOutput(tree, covers[t] as Float64Array);
  });
  for (let i = 0; i < x.rows; i++) {
    const phi = values.subarray(i * d, (i + 1) * d);
    let margin = model.baseScore;
    model.trees.forEach((tree, t) => {
      pathDependentTree(tree, covers[t] as Float64Array, x.data, i * d, phi, pools[t] as PathPool);
      margin += treeOutput(tree, x.data, i * d);
    });
    margins[i] = margin;
  }
  return { baseValue, values, margins };
}

// ── Interventional ────────────────────────────────────────────────────────────────────────

/**
 * w(a, b) = a!·b!/(a+b+1)!: the Shapley weight of a coalition of `a` of the other players from
 * x and `b` from the background row. Tabled up to the deepest path.
 */
function shapleyWeights(depth: number): Float64Array[] {
  const table: Float64Array[] = [];
  for (let a = 0; a <= depth; a++) {
    const row = new Float64Array(depth + 1);
    for (let b = 0; a + b <= depth; b++) {
      // a!·b!/(a+b+1)! = 1 / ((a+b+1)·C(a+b, a))
      let binomial = 1;
      for (let k = 1; k <= a; k++) binomial = (binomial * (b + k)) / k;
      row[b] = 1 / ((a + b + 1) * binomial);
    }
    table.push(row);
  }
  return table;
}

/**
 * One tree's Shapley values of v(S) = tree(x_S, z_S̄) − tree(z), added into `phi`. A branch
 * where x and z agree keeps both together; where they part, the split's feature joins x's side
 * on x's branch and z's side on z's; a feature already on a side follows that side.
 */
function interventionalTree(
  tree: ExplainedTree,
  data: ArrayLike<number>,
  xAt: number,
  background: ArrayLike<number>,
  zAt: number,
  phi: Float64Array,
  side: Int8Array,
  fromX: Int32Array,
  fromZ: Int32Array,
  weights: readonly Float64Array[],
): void {
  const walk = (node: number, nx: number, nz: number): void => {
    const split = tree.feature[node] as number;
    if (split < 0) {
      const value = tree.value[node] as number;
      if (nx > 0) {
        const w = ((weights[nx - 1] as Float64Array)[nz] as number) * value;
        for (let k = 0; k < nx; k++) {
          const f = fromX[k] as number;
          phi[f] = (phi[f] as number) + w;
        }
      }
      if (nz > 0) {
        const w = ((weights[nx] as Float64Array)[nz - 1] as number) * value;
        for (let k = 0; k < nz; k++) {
          const f = fromZ[k] as number;
          phi[f] = (phi[f] as number) - w;
        }
      }
      return;
    }
    const left = tree.left[node] as number;
    const right = tree.right[node] as number;
    const xChild = goesLeft(tree, node, data[xAt + split] as number) ? left : right;
    const zChild = goesLeft(tree, node, background[zAt + split] as number) ? left : right;
    const s = side[split] as number;
    if (s === 1) walk(xChild, nx, nz);
    else if (s === -1) walk(zChild, nx, nz);
    else if (xChild === zChild) walk(xChild, nx, nz);
    else {
      side[split] = 1;
      fromX[nx] = split;
      walk(xChild, nx + 1, nz);
      side[split] = -1;
      fromZ[nz] = split;
      walk(zChild, nx, nz + 1);
      side[split] = 0;
    }
  };
  walk(0, 0, 0);
}

/**
 * Interventional TreeSHAP of each row of `x` against `background` (rows of the same model
 * inputs; shap's default is 100 training rows): the average over background rows z of the
 * Shapley values of f(x_S, z_S̄).
 */
export function interventionalShap(model: ExplainedEnsemble, x: Matrix, background: Matrix): ShapValues {
  checkShape(model, x, 'the data');
  checkShape(model, background, 'the background');
  if (background.rows === 0) throw new RangeError('the background has no rows');
  const d = model.features;
  const depth = Math.max(0, ...model.trees.map((t) => maxDepth(t)));
  const weights = shapleyWeights(depth);
  const side = new Int8Array(d);
  const fromX = new Int32Array(depth + 1);
  const fromZ = new Int32Array(depth + 1);
  let baseValue = 0;
  for (let r = 0; r < background.rows; r++) {
    let f = model.baseScore;
    for (const tree of model.trees) f += treeOutput(tree, background.data, r * d);
    baseValue += f;
  }
  baseValue /= background.rows;
  const values = new Float64Array(x.rows * d);
  const margins = new Float64Array(x.rows);
  for (let i = 0; i < x.rows; i++) {
    const phi = values.subarray(i * d, (i + 1) * d);
    let margin = model.baseScore;
    for (const tree of model.trees) {
      margin += treeOutput(tree, x.data, i * d);
      for (let r = 0; r < background.rows; r++)
        interventionalTree(tree, x.data, i * d, background.data, r * d, phi, side, fromX, fromZ, weights);
    }
    for (let j = 0; j < d; j++) phi[j] = (phi[j] as number) / background.rows;
    margins[i] = margin;
  }
  return { baseValue, values, margins };
}
