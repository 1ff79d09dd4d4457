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
 *   game v(S) = f(x_S, z_S̄) for each background row z, averaged over the background. Rather
 *   than one tree walk per (row, background row) pair, the background is summarised once per
 *   leaf (which of the path's features each row satisfies, counted by pattern) and each leaf's
 *   values tabled, so a row costs one lookup per leaf: see {@link InterventionalTreeShap}.
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

/** Which way x goes at each internal node of `tree` (1: left), into `went`: once per row and tree, not per leaf. */
function decide(tree: ExplainedTree, data: ArrayLike<number>, at: number, went: Uint8Array): void {
  for (let node = 0; node < tree.feature.length; node++) {
    const f = tree.feature[node] as number;
    if (f >= 0) went[node] = goesLeft(tree, node, data[at + f] as number) ? 1 : 0;
  }
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

/** Distinct features on a leaf's path up to which its Shapley values are tabled (2^p × p entries). */
const TABLED_FEATURES = 8;
/** Table entries kept at most per model (doubles): trees beyond walk the paths per row instead. */
const TABLE_BUDGET = 16_000_000;
/**
 * Pattern sums spent at most building interventional tables (tens of ns each): the shipped
 * model spends 0.43 M of them on 177,452 table entries (2,951 leaves, 100 background rows).
 */
const TABLING_WORK = 20_000_000;

/** One leaf of a tabled tree: its path's splits and its Shapley values for every set of satisfied features. */
/**
 * A root-to-leaf path: its internal nodes, the side taken at each (1: left), each node's
 * feature as a bit over the path's distinct features, and those features.
 */
interface LeafPath {
  readonly leaf: number;
  readonly nodes: Int32Array;
  readonly left: Uint8Array;
  readonly bits: Int32Array;
  readonly features: Int32Array;
}

/** Every leaf's path of `tree`, left first. */
function leafPaths(tree: ExplainedTree): LeafPath[] {
  const paths: LeafPath[] = [];
  const nodes: number[] = [];
  const lefts: number[] = [];
  const visit = (node: number): void => {
    if ((tree.feature[node] as number) >= 0) {
      for (const [child, left] of [
        [tree.left[node] as number, 1],
        [tree.right[node] as number, 0],
      ] as const) {
        nodes.push(node);
        lefts.push(left);
        visit(child);
        nodes.pop();
        lefts.pop();
      }
      return;
    }
    const features: number[] = [];
    const bits = nodes.map((n) => {
      const f = tree.feature[n] as number;
      let j = features.indexOf(f);
      if (j < 0) j = features.push(f) - 1;
      return 1 << j;
    });
    paths.push({
      leaf: node,
      nodes: Int32Array.from(nodes),
      left: Uint8Array.from(lefts),
      bits: Int32Array.from(bits),
      features: Int32Array.from(features),
    });
  };
  visit(0);
  return paths;
}

/** The path features x (or a background row) satisfies, as a mask over the path's features. */
function satisfied(path: LeafPath, went: Uint8Array): number {
  let mask = (1 << path.features.length) - 1;
  for (let k = 0; k < path.nodes.length; k++)
    if (went[path.nodes[k] as number] !== path.left[k]) mask &= ~(path.bits[k] as number);
  return mask;
}

/**
 * Tabled leaves of an ensemble in flat typed arrays, one range of leaves per tree (empty for a
 * tree that is not tabled): the per-row loop reads no objects. On the shipped 100-tree model
 * (2,951 leaves) a path-dependent row took 0.59 ms with each leaf an object holding its own
 * arrays, 0.43 ms flat; what remains is the ~6 path checks and ~3.5 table reads per leaf.
 */
interface FlatTables {
  /** Per tree t, its leaves are `leafStart[t] … leafStart[t + 1]`. */
  readonly leafStart: Int32Array;
  /** Per leaf l: its path's nodes `nodeStart[l] …`, the side taken and the feature bit of each. */
  readonly nodeStart: Int32Array;
  readonly nodes: Int32Array;
  readonly lefts: Uint8Array;
  readonly bits: Int32Array;
  /** Per leaf l: its distinct path features `featureStart[l] …`. */
  readonly featureStart: Int32Array;
  readonly features: Int32Array;
  /** Per leaf l: its `2^p × p` table from `tableStart[l]`. */
  readonly tableStart: Int32Array;
  readonly table: Float64Array;
}

function flattenTables(
  trees: readonly (readonly { readonly path: LeafPath; readonly table: Float64Array }[] | undefined)[],
): FlatTables {
  const leaves = trees.flatMap((t) => t ?? []);
  const leafStart = new Int32Array(trees.length + 1);
  trees.forEach((t, i) => {
    leafStart[i + 1] = (leafStart[i] as number) + (t?.length ?? 0);
  });
  const nodeStart = new Int32Array(leaves.length + 1);
  const featureStart = new Int32Array(leaves.length + 1);
  const tableStart = new Int32Array(leaves.length + 1);
  leaves.forEach(({ path, table }, l) => {
    nodeStart[l + 1] = (nodeStart[l] as number) + path.nodes.length;
    featureStart[l + 1] = (featureStart[l] as number) + path.features.length;
    tableStart[l + 1] = (tableStart[l] as number) + table.length;
  });
  const nodes = new Int32Array(nodeStart[leaves.length] as number);
  const lefts = new Uint8Array(nodes.length);
  const bits = new Int32Array(nodes.length);
  const features = new Int32Array(featureStart[leaves.length] as number);
  const table = new Float64Array(tableStart[leaves.length] as number);
  leaves.forEach(({ path, table: own }, l) => {
    nodes.set(path.nodes, nodeStart[l]);
    lefts.set(path.left, nodeStart[l]);
    bits.set(path.bits, nodeStart[l]);
    features.set(path.features, featureStart[l]);
    table.set(own, tableStart[l]);
  });
  return { leafStart, nodeStart, nodes, lefts, bits, featureStart, features, tableStart, table };
}

/** Adds tree t's tabled leaves' values for the row whose decisions are `went` into `values` from `at`. */
function addTabled(flat: FlatTables, t: number, went: Uint8Array, values: Float64Array, at: number): void {
  const { leafStart, nodeStart, nodes, lefts, bits, featureStart, features, tableStart, table } = flat;
  for (let l = leafStart[t] as number, end = leafStart[t + 1] as number; l < end; l++) {
    const f0 = featureStart[l] as number;
    const p = (featureStart[l + 1] as number) - f0;
    let mask = (1 << p) - 1;
    for (let k = nodeStart[l] as number, kEnd = nodeStart[l + 1] as number; k < kEnd; k++)
      if (went[nodes[k] as number] !== lefts[k]) mask &= ~(bits[k] as number);
    const row = (tableStart[l] as number) + mask * p;
    for (let j = 0; j < p; j++) {
      const f = at + (features[f0 + j] as number);
      values[f] = (values[f] as number) + (table[row + j] as number);
    }
  }
}

interface TabledLeaf extends LeafPath {
  /** `2^p × p`: for each set A of path features x satisfies (bit mask), each feature's value. */
  readonly table: Float64Array;
}

/**
 * Path-dependent TreeSHAP prepared for one ensemble. A leaf's share of the tree's game is
 * v(S) = value × Π_{j∈S} a_j × Π_{j∉S} r_j over the features j on its path, with a_j ∈ {0, 1}
 * whether x satisfies the path's splits on j and r_j the share of training rows that did (the
 * covers' ratios). Its Shapley values depend on x only through which features it satisfies, so
 * each leaf's values are tabled once for every such set (Yang 2021, "Fast TreeSHAP", precomputes
 * the same kind of per-leaf table); a row then costs one mask and one lookup per leaf. A tree
 * with a leaf of more than 8 distinct path features, or beyond the table budget, is explained by
 * Algorithm 2 instead. Checked against shap's C++ in the reference tests.
 */
export class PathDependentTreeShap {
  readonly #model: ExplainedEnsemble;
  readonly #covers: readonly Float64Array[];
  /** Per tree: its tabled leaves, or undefined (walked per row by Algorithm 2). */
  readonly #tabled: readonly boolean[];
  readonly #flat: FlatTables;
  readonly #pools: readonly (PathPool | undefined)[];
  /** E[f] over the training rows, by the covers. */
  readonly baseValue: number;

  /** `tableBudget`: table entries to spend at most. @default 16 million (128 MB) */
  constructor(model: ExplainedEnsemble, options: { readonly tableBudget?: number } = {}) {
    this.#model = model;
    this.#covers = model.trees.map((tree, t) => {
      if (!tree.cover) throw new RangeError(`tree ${t} has no node covers: path-dependent SHAP needs them`);
      if (!((tree.cover[0] as number) > 0))
        throw new RangeError(`tree ${t} has no training rows at its root`);
      return tree.cover;
    });
    let budget = options.tableBudget ?? TABLE_BUDGET;
    const tables = model.trees.map((tree, t) => {
      const leaves = tabledLeaves(tree, this.#covers[t] as Float64Array, budget);
      if (leaves) budget -= leaves.reduce((n, l) => n + l.table.length, 0);
      return leaves?.map((leaf) => ({ path: leaf, table: leaf.table }));
    });
    this.#tabled = tables.map((t) => t !== undefined);
    this.#flat = flattenTables(tables);
    this.#pools = model.trees.map((tree, t) => (this.#tabled[t] ? undefined : new PathPool(maxDepth(tree))));
    this.baseValue = model.trees.reduce(
      (sum, tree, t) => sum + expectedOutput(tree, this.#covers[t] as Float64Array),
      model.baseScore,
    );
  }

  /** SHAP values of each row of `x` (model inputs, NaN for missing). */
  explain(x: Matrix): ShapValues {
    const model = this.#model;
    checkShape(model, x, 'the data');
    const d = model.features;
    const values = new Float64Array(x.rows * d);
    const margins = new Float64Array(x.rows);
    const went = new Uint8Array(Math.max(0, ...model.trees.map((t) => t.feature.length)));
    const tabled = this.#tabled;
    const flat = this.#flat;
    const trees = model.trees;
    const data = x.data;
    for (let i = 0; i < x.rows; i++) {
      const at = i * d;
      let margin = model.baseScore;
      for (let t = 0; t < trees.length; t++) {
        const tree = trees[t] as ExplainedTree;
        margin += treeOutput(tree, data, at);
        if (!tabled[t]) {
          pathDependentTree(
            tree,
            this.#covers[t] as Float64Array,
            data,
            at,
            values.subarray(at, at + d),
            this.#pools[t] as PathPool,
          );
          continue;
        }
        decide(tree, data, at, went);
        addTabled(flat, t, went, values, at);
      }
      margins[i] = margin;
    }
    return { baseValue: this.baseValue, values, margins };
  }
}

/**
 * A tree's leaves with their Shapley-value tables, or undefined when a leaf has too many path
 * features or the tables would exceed `budget` entries. For the set A of satisfied features,
 * feature i's value is value·(a_i − r_i)·Σ_{S⊆A∖{i}} |S|!(p−|S|−1)!/p! · Π_{j∈P∖{i}∖S} r_j.
 */
function tabledLeaves(tree: ExplainedTree, cover: Float64Array, budget: number): TabledLeaf[] | undefined {
  const paths = leafPaths(tree);
  const entries = paths.reduce((n, path) => n + (path.features.length << path.features.length), 0);
  if (paths.some((path) => path.features.length > TABLED_FEATURES) || entries > budget) return undefined;
  return paths.map((path) => {
    const p = path.features.length;
    // r_j: the share of the training rows that followed the path's splits on feature j.
    const ratio = new Float64Array(p).fill(1);
    path.nodes.forEach((n, k) => {
      const child = path.left[k] === 1 ? (tree.left[n] as number) : (tree.right[n] as number);
      const j = 31 - Math.clz32(path.bits[k] as number);
      ratio[j] = (ratio[j] as number) * ((cover[child] as number) / (cover[n] as number));
    });
    const full = (1 << p) - 1;
    // Π_{j∈mask} r_j for every mask, and the Shapley weight of a coalition of each size.
    const product = new Float64Array(1 << p);
    product[0] = 1;
    for (let m = 1; m <= full; m++) {
      const low = 31 - Math.clz32(m & -m);
      product[m] = (product[m & (m - 1)] as number) * (ratio[low] as number);
    }
    const weight = Float64Array.from({ length: Math.max(1, p) }, (_, size) => {
      // size!·(p − size − 1)!/p! = 1 / (p · C(p − 1, size))
      let binomial = 1;
      for (let k = 1; k <= size; k++) binomial = (binomial * (p - size - 1 + k)) / k;
      return 1 / (p * binomial);
    });
    const value = tree.value[path.leaf] as number;
    const table = new Float64Array(p << p);
    for (let mask = 0; mask <= full; mask++)
      for (let i = 0; i < p; i++) {
        const bit = 1 << i;
        const gain = ((mask & bit) !== 0 ? 1 : 0) - (ratio[i] as number);
        const others = mask & ~bit;
        const rest = full & ~bit;
        let sum = 0;
        for (let sub = others; ; sub = (sub - 1) & others) {
          sum += (weight[popcount(sub)] as number) * (product[rest & ~sub] as number);
          if (sub === 0) break;
        }
        table[mask * p + i] = value * gain * sum;
      }
    return { ...path, table };
  });
}

/**
 * Path-dependent TreeSHAP of each row of `x` (model inputs, NaN for missing): needs every
 * tree's node covers. To explain many batches of one model, prepare it once with
 * {@link PathDependentTreeShap}.
 */
export function pathDependentShap(model: ExplainedEnsemble, x: Matrix): ShapValues {
  checkShape(model, x, 'the data');
  return new PathDependentTreeShap(model).explain(x);
}

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

/** Bits set in a 32-bit integer. */
function popcount(v: number): number {
  let n = v - ((v >>> 1) & 0x55555555);
  n = (n & 0x33333333) + ((n >>> 2) & 0x33333333);
  return (((n + (n >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** One leaf of one tree: its path's splits, the distinct features on it, and the background's patterns. */
interface PreparedLeaf extends LeafPath {
  readonly value: number;
  readonly full: number;
  /** Distinct background patterns (bit set: that row satisfies the path's splits on the feature) and their shares. */
  readonly patterns: Int32Array;
  readonly shares: Float64Array;
}

/**
 * One leaf's interventional values for a row that satisfies the path features in `mine`, per
 * path feature (index into `leaf.features`), into `out`: the sum over the background's
 * patterns of the terms below.
 */
function leafContributions(
  leaf: PreparedLeaf,
  mine: number,
  weights: readonly Float64Array[],
  out: Float64Array,
): void {
  out.fill(0, 0, leaf.features.length);
  for (let q = 0; q < leaf.patterns.length; q++) {
    const theirs = leaf.patterns[q] as number;
    // A feature neither satisfies closes the leaf to every hybrid.
    if ((mine | theirs) !== leaf.full) continue;
    const onlyX = mine & ~theirs;
    const onlyZ = theirs & ~mine;
    if ((onlyX | onlyZ) === 0) continue;
    const p = popcount(onlyX);
    const nz = popcount(onlyZ);
    const share = (leaf.shares[q] as number) * leaf.value;
    if (p > 0) {
      const w = share * ((weights[p - 1] as Float64Array)[nz] as number);
      for (let bits = onlyX; bits !== 0; bits &= bits - 1) {
        const j = 31 - Math.clz32(bits & -bits);
        out[j] = (out[j] as number) + w;
      }
    }
    if (nz > 0) {
      const w = share * ((weights[p] as Float64Array)[nz - 1] as number);
      for (let bits = onlyZ; bits !== 0; bits &= bits - 1) {
        const j = 31 - Math.clz32(bits & -bits);
        out[j] = (out[j] as number) - w;
      }
    }
  }
}

/**
 * Interventional TreeSHAP prepared for one background: each tree's leaves with the patterns in
 * which the background rows satisfy each leaf's path, counted once. Then a row costs one pass
 * over the leaves, not one tree walk per background row.
 *
 * Why it is exact: for a background row z, v(S) = f(x_S, z_S̄) is a sum over leaves of
 * value × Π_j [the hybrid satisfies the leaf's splits on feature j], and for one leaf that
 * product is 1 exactly when S holds every path feature only x satisfies (set P) and none only z
 * satisfies (set N), provided no feature is satisfied by neither. Its Shapley value is then
 * value·(|P|−1)!·|N|!/(|P|+|N|)! for each feature of P and −value·|P|!·(|N|−1)!/(|P|+|N|)! for
 * each of N (Lundberg et al. 2020 walk the tree to the same terms). Rows with one pattern give
 * one term, weighted by their share. Checked against shap's C++ in the reference tests.
 *
 * The sum over patterns depends on x only through the set of path features x satisfies, so it
 * is tabled for every such set once (2^p × p per leaf, as the path-dependent tables, in the
 * same budget): a row then costs one mask and one lookup per leaf, 2.4× less than summing the
 * patterns per row on the shipped model. Trees beyond the budget sum the patterns per row.
 */
export class InterventionalTreeShap {
  readonly #model: ExplainedEnsemble;
  readonly #leaves: readonly (readonly PreparedLeaf[])[];
  readonly #weights: readonly Float64Array[];
  /** Per tree: whether its leaves are tabled (in `#flat`), else summed over patterns per row. */
  readonly #tabled: readonly boolean[];
  readonly #flat: FlatTables;
  /** E_background[f(z)]. */
  readonly baseValue: number;

  /** `tableBudget`: table entries to spend at most. @default 16 million (128 MB) */
  constructor(model: ExplainedEnsemble, background: Matrix, options: { readonly tableBudget?: number } = {}) {
    checkShape(model, background, 'the background');
    if (background.rows === 0) throw new RangeError('the background has no rows');
    this.#model = model;
    const depth = Math.max(0, ...model.trees.map((t) => maxDepth(t)));
    if (depth > 30) throw new RangeError(`trees deeper than 30 (${depth}) are not supported`);
    this.#weights = shapleyWeights(depth);
    const d = model.features;
    const nb = background.rows;
    let baseValue = model.baseScore;
    const went = new Uint8Array(Math.max(0, ...model.trees.map((t) => t.feature.length)));
    this.#leaves = model.trees.map((tree) => {
      const paths = leafPaths(tree);
      // Each background row's pattern per leaf: which of the path's features it satisfies.
      const counts = paths.map(() => new Map<number, number>());
      for (let r = 0; r < nb; r++) {
        decide(tree, background.data, r * d, went);
        paths.forEach((path, l) => {
          const mask = satisfied(path, went);
          const count = counts[l] as Map<number, number>;
          count.set(mask, (count.get(mask) ?? 0) + 1);
        });
      }
      return paths.map((path, l): PreparedLeaf => {
        const count = counts[l] as Map<number, number>;
        const full = (1 << path.features.length) - 1;
        const value = tree.value[path.leaf] as number;
        baseValue += (value * (count.get(full) ?? 0)) / nb;
        return {
          ...path,
          value,
          full,
          patterns: Int32Array.from(count.keys()),
          shares: Float64Array.from(count.values(), (c) => c / nb),
        };
      });
    });
    this.baseValue = baseValue;
    // Tabled as the path-dependent leaves are: a leaf's values depend on x only through the
    // set of its path features x satisfies, so each set's are summed over the patterns once.
    // Building a table sums every pattern for every set (2^p × patterns per leaf): bounded too,
    // so a large ensemble's explainer loads in well under a second and its other trees sum per row.
    let budget = options.tableBudget ?? TABLE_BUDGET;
    let work = TABLING_WORK;
    const contributions = new Float64Array(32);
    const tables = this.#leaves.map((leaves) => {
      const entries = leaves.reduce((n, leaf) => n + (leaf.features.length << leaf.features.length), 0);
      const cost = leaves.reduce((n, leaf) => n + (1 << leaf.features.length) * leaf.patterns.length, 0);
      if (leaves.some((leaf) => leaf.features.length > TABLED_FEATURES) || entries > budget || cost > work)
        return undefined;
      budget -= entries;
      work -= cost;
      return leaves.map((leaf) => {
        const p = leaf.features.length;
        const table = new Float64Array(p << p);
        for (let mine = 0; mine <= leaf.full; mine++) {
          leafContributions(leaf, mine, this.#weights, contributions);
          table.set(contributions.subarray(0, p), mine * p);
        }
        return { path: leaf, table };
      });
    });
    this.#tabled = tables.map((t) => t !== undefined);
    this.#flat = flattenTables(tables);
  }

  /** SHAP values of each row of `x` against the background. */
  explain(x: Matrix): ShapValues {
    checkShape(this.#model, x, 'the data');
    const d = this.#model.features;
    const weights = this.#weights;
    const values = new Float64Array(x.rows * d);
    const margins = new Float64Array(x.rows);
    const went = new Uint8Array(Math.max(0, ...this.#model.trees.map((t) => t.feature.length)));
    const contributions = new Float64Array(32);
    const trees = this.#model.trees;
    const flat = this.#flat;
    for (let i = 0; i < x.rows; i++) {
      const at = i * d;
      let margin = this.#model.baseScore;
      for (let t = 0; t < trees.length; t++) {
        const tree = trees[t] as ExplainedTree;
        margin += treeOutput(tree, x.data, at);
        decide(tree, x.data, at, went);
        if (this.#tabled[t]) {
          addTabled(flat, t, went, values, at);
          continue;
        }
        for (const leaf of this.#leaves[t] as readonly PreparedLeaf[]) {
          leafContributions(leaf, satisfied(leaf, went), weights, contributions);
          for (let j = 0; j < leaf.features.length; j++) {
            const f = at + (leaf.features[j] as number);
            values[f] = (values[f] as number) + (contributions[j] as number);
          }
        }
      }
      margins[i] = margin;
    }
    return { baseValue: this.baseValue, values, margins };
  }
}

/**
 * Interventional TreeSHAP of each row of `x` against `background` (rows of the same model
 * inputs; shap's default is 100 training rows): the average over background rows z of the
 * Shapley values of f(x_S, z_S̄). To explain many batches against one background, prepare it
 * once with {@link InterventionalTreeShap}.
 */
export function interventionalShap(model: ExplainedEnsemble, x: Matrix, background: Matrix): ShapValues {
  checkShape(model, x, 'the data');
  return new InterventionalTreeShap(model, background).explain(x);
}
