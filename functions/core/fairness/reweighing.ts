/**
 * Reweighing (Kamiran & Calders 2012, "Data preprocessing techniques for classification without
 * discrimination", §4): each training row of group a and label y weighs P(a)·P(y) / P(a, y), so
 * that in the weighted data the label is independent of the group, as it would be without the
 * historical bias, while each group and each label keeps its share. The learner (LR or GBDT,
 * both take sample weights) then fits the weighted data; the attribute is used for the weights
 * only, never as a model input.
 */

/** One (group, label) cell: its rows and the weight each of them gets. */
export interface ReweighingCell {
  readonly group: string;
  readonly label: 0 | 1;
  readonly rows: number;
  readonly weight: number;
}

export interface Reweighing {
  /** Per row, in the order given. */
  readonly weights: Float64Array;
  /** Per cell with rows, by group then label: what the card and the report show. */
  readonly cells: readonly ReweighingCell[];
}

/**
 * The Kamiran–Calders weights of labelled rows (`y` 0/1) in `groups`. A cell with no rows needs
 * no weight; every row's is finite and positive.
 */
export function reweighing(y: ArrayLike<number>, groups: ArrayLike<string>): Reweighing {
  const n = y.length;
  if (groups.length !== n) throw new RangeError(`${n} labels but ${groups.length} group values`);
  if (n === 0) throw new RangeError('no rows to reweigh');
  const cellRows = new Map<string, [number, number]>();
  let positives = 0;
  for (let i = 0; i < n; i++) {
    const label = y[i];
    if (label !== 0 && label !== 1) throw new RangeError(`label ${i} is ${label}, not 0 or 1`);
    const g = groups[i] as string;
    const counts = cellRows.get(g) ?? [0, 0];
    counts[label]++;
    cellRows.set(g, counts);
    positives += label;
  }
  const pLabel = [(n - positives) / n, positives / n];
  const weightOf = new Map<string, [number, number]>();
  const cells: ReweighingCell[] = [];
  for (const group of [...cellRows.keys()].sort()) {
    const counts = cellRows.get(group) as [number, number];
    const pGroup = (counts[0] + counts[1]) / n;
    // P(a)·P(y) / P(a, y) with P(a, y) = rows / n.
    const w = counts.map((rows, label) =>
      rows === 0 ? 0 : (pGroup * (pLabel[label] as number) * n) / rows,
    ) as [number, number];
    weightOf.set(group, w);
    for (const label of [0, 1] as const)
      if (counts[label] > 0) cells.push({ group, label, rows: counts[label], weight: w[label] });
  }
  const weights = new Float64Array(n);
  for (let i = 0; i < n; i++)
    weights[i] = (weightOf.get(groups[i] as string) as [number, number])[y[i] as 0 | 1];
  return { weights, cells };
}
