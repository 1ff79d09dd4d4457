/**
 * Growing one GBDT tree, leaf-wise: the node with the best split is split next, until the
 * leaf limit; each child's histogram comes from one pass over the smaller child's rows and the
 * parent's minus it for the larger; leaf values are renewed from the exact gradients.
 */
import { accumulate, partition, unpack } from './gbdt-histogram.ts';
import { bestSplit, leafValue, type Node, type Split, type SplitContext } from './gbdt-split.ts';

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
  /** Rows of the tree's training sample that reached each node: path-dependent SHAP's weights. */
  readonly cover: Float64Array;
}

/** The training state one tree is grown from. */
export interface GrowContext extends SplitContext {
  readonly maxLeaves: number;
  readonly learningRate: number;
  readonly n: number;
  readonly d: number;
  readonly histLength: number;
  readonly edges: readonly Float64Array[];
  /** Row-major bin codes, and a column-major copy for partitioning. */
  readonly codes: Uint8Array;
  readonly columns: Uint8Array;
  /** Row indices of the tree being grown (the first `rowCount` are its rows), and scratch space. */
  readonly order: Int32Array;
  readonly scratch: Int32Array;
  /** Packed quantised gradients, and the exact ones (g at 2i, h at 2i+1). */
  readonly packed: Float64Array;
  readonly gh: Float64Array;
  /** Recycled histograms: a split parent's array becomes its larger child's. */
  readonly pool: Float64Array[];
}

function takeHist(c: GrowContext): Float64Array {
  const h = c.pool.pop();
  if (h) {
    h.fill(0);
    return h;
  }
  return new Float64Array(c.histLength);
}

function histogram(c: GrowContext, begin: number, end: number): Float64Array {
  return accumulate(
    takeHist(c),
    c.order,
    begin,
    end,
    c.packed,
    c.codes,
    c.offset,
    c.d,
    c.na === c.d ? undefined : c.allowed,
  );
}

/** Grows one tree over rows `order[0, rowCount)`; the leaves come back with their row ranges. */
export function growTree(c: GrowContext, rowCount: number): { readonly tree: Tree; readonly leaves: Node[] } {
  const { order, scratch, packed, gh, columns, bins, edges, monotone, pool, n, histLength } = c;
  // Leaf-wise growth.
  const feature: number[] = [-1];
  const threshold: number[] = [0];
  const missingLeft: number[] = [0];
  const left: number[] = [-1];
  const right: number[] = [-1];
  const value: number[] = [0];
  const cover: number[] = [rowCount];
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
  root.hist = histogram(c, 0, rowCount);
  root.split = bestSplit(root, c);
  value[0] = 0; // leaf values are renewed from exact gradients once the tree is grown
  const open: Node[] = [root];
  let leaves = 1;
  while (leaves < c.maxLeaves) {
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
      cover.push(end - begin);
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
    const canSplit = (child: Node) =>
      (c.maxDepth <= 0 || child.depth < c.maxDepth) && child.end - child.begin >= 2 * c.minSamplesLeaf;
    const parentHist = node.hist as Float64Array;
    node.hist = undefined;
    if (canSplit(small) || canSplit(large)) {
      small.hist = histogram(c, small.begin, small.end);
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
      child.split = child.hist && canSplit(child) ? bestSplit(child, c) : undefined;
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
    value[node.id] = leafValue(g, h, node.lower, node.upper, c.lambda);
  }

  const tree: Tree = {
    feature: Int32Array.from(feature),
    threshold: Float64Array.from(threshold),
    missingLeft: Uint8Array.from(missingLeft),
    left: Int32Array.from(left),
    right: Int32Array.from(right),
    value: Float64Array.from(value, (v) => v * c.learningRate),
    cover: Float64Array.from(cover),
  };
  return { tree, leaves: open };
}
