/**
 * Counterfactual explanations (Wachter et al. 2017): for a row and a desired decision, the
 * cheapest changes that reach it. Cost is the sum over changed columns of |Δ| in units of the
 * column's spread (numeric) or a fixed cost per changed category. Columns can be immutable
 * (protected attributes by default, at the caller), limited to a direction (`increase` or
 * `decrease`) and to a range; only candidate values (a grid the caller gives: training
 * quantiles, or, for tree ensembles, the points either side of each split threshold, between
 * which the model is constant) are tried.
 *
 * The search goes by the number of changes, one batch of candidates scored per step: every
 * single change, then the non-flipping states (the cheapest `beam` of them) extended by one
 * more change on another column, up to `maxChanges`. A flipping state is never extended, as any
 * superset costs more. Without a beam it is exhaustive over the grid, so it returns the
 * cheapest flip there is (checked against brute force in the tests); `beam` bounds the work on
 * large problems, and the result is then the best found. The
 * evaluation budget is bounded too, so it ends even where no counterfactual exists, which it
 * then says. Several diverse answers: no answer's changed columns contain another's.
 */

export type Value = number | string | null;
export type Row = Readonly<Record<string, Value>>;

export interface CounterfactualColumn {
  readonly name: string;
  /** Values to move to. */
  readonly candidates: readonly Value[];
  /** Numeric: the spread that is one unit of cost (e.g. the MAD or standard deviation). */
  readonly spread?: number;
  /** Categorical: the cost of changing the category. @default 1 */
  readonly changeCost?: number;
  /** Never changed. @default false */
  readonly immutable?: boolean;
  /** Only moved this way (numeric). @default either way */
  readonly direction?: 'increase' | 'decrease';
  readonly min?: number;
  readonly max?: number;
}

export interface CounterfactualOptions {
  /** The decision wanted: 1 when the score must reach `threshold`, 0 when it must fall below it. */
  readonly desired: 0 | 1;
  /** @default 0.5 */
  readonly threshold?: number;
  /** @default 3 */
  readonly maxChanges?: number;
  /** Answers wanted. @default 3 */
  readonly count?: number;
  /** Non-flipping states kept per step. @default unlimited (exhaustive over the grid) */
  readonly beam?: number;
  /** Rows scored at most. @default 200,000 */
  readonly maxEvaluations?: number;
}

export interface Counterfactual {
  readonly changes: Readonly<Record<string, { readonly from: Value; readonly to: Value }>>;
  readonly cost: number;
  readonly score: number;
}

export interface CounterfactualResult {
  readonly counterfactuals: readonly Counterfactual[];
  readonly evaluated: number;
  /** Why fewer than `count` came back, when they did. */
  readonly reason?: string;
  readonly originalScore: number;
}

interface State {
  readonly changes: ReadonlyMap<string, Value>;
  readonly cost: number;
}

function moveCost(column: CounterfactualColumn, from: Value, to: Value): number {
  if (typeof to === 'number' && typeof from === 'number') {
    const spread = column.spread ?? 1;
    if (!(spread > 0)) throw new RangeError(`column ${column.name}: spread must be > 0, got ${spread}`);
    return Math.abs(to - from) / spread;
  }
  return column.changeCost ?? 1;
}

function allowed(column: CounterfactualColumn, from: Value, to: Value): boolean {
  if (to === from) return false;
  if (typeof to === 'number') {
    if (column.min !== undefined && to < column.min) return false;
    if (column.max !== undefined && to > column.max) return false;
    if (typeof from === 'number') {
      if (column.direction === 'increase' && to < from) return false;
      if (column.direction === 'decrease' && to > from) return false;
    }
  }
  return true;
}

const keyOf = (changes: ReadonlyMap<string, Value>) =>
  [...changes]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join('&');

export async function counterfactuals(
  score: (rows: readonly Row[]) => Promise<ArrayLike<number>>,
  row: Row,
  columns: readonly CounterfactualColumn[],
  options: CounterfactualOptions,
): Promise<CounterfactualResult> {
  const threshold = options.threshold ?? 0.5;
  const maxChanges = options.maxChanges ?? 3;
  const count = options.count ?? 3;
  const budget = options.maxEvaluations ?? 200_000;
  const reaches = (p: number) => (options.desired === 1 ? p >= threshold : p < threshold);
  for (const c of columns) if (!(c.name in row)) throw new RangeError(`the row has no column ${c.name}`);
  const [originalScore = Number.NaN] = Array.from(await score([row]));
  let evaluated = 1;
  if (reaches(originalScore))
    return {
      counterfactuals: [],
      evaluated,
      reason: 'the row already has the desired decision',
      originalScore,
    };
  const mutable = columns.filter((c) => !c.immutable);
  if (mutable.length === 0)
    return { counterfactuals: [], evaluated, reason: 'every column is immutable', originalScore };

  const found: { state: State; score: number }[] = [];
  const seen = new Set<string>();
  let frontier: State[] = [{ changes: new Map(), cost: 0 }];
  let exhausted = false;
  for (let depth = 1; depth <= maxChanges && frontier.length > 0; depth++) {
    // Every state one more change away from the frontier, on a column not changed yet.
    const next: State[] = [];
    for (const state of frontier)
      for (const column of mutable) {
        if (state.changes.has(column.name)) continue;
        const from = row[column.name] ?? null;
        for (const to of column.candidates) {
          if (!allowed(column, from, to)) continue;
          const changes = new Map(state.changes).set(column.name, to);
          const key = keyOf(changes);
          if (seen.has(key)) continue;
          seen.add(key);
          next.push({ changes, cost: state.cost + moveCost(column, from, to) });
        }
      }
    if (evaluated + next.length > budget) {
      next.sort((a, b) => a.cost - b.cost);
      next.length = Math.max(0, budget - evaluated);
      exhausted = true;
    }
    const scores = await score(next.map((s) => ({ ...row, ...Object.fromEntries(s.changes) })));
    evaluated += next.length;
    const open: { state: State; score: number }[] = [];
    next.forEach((state, k) => {
      const p = scores[k] as number;
      (reaches(p) ? found : open).push({ state, score: p });
    });
    // A state that already flips is never extended: any superset costs more.
    open.sort((a, b) => a.state.cost - b.state.cost);
    frontier = (options.beam ? open.slice(0, options.beam) : open).map((o) => o.state);
    if (exhausted) break;
  }

  // Cheapest first; an answer whose changed columns contain a cheaper one's is not diverse.
  found.sort((a, b) => a.state.cost - b.state.cost);
  const picked: { state: State; score: number }[] = [];
  for (const f of found) {
    if (picked.length >= count) break;
    const columnsChanged = [...f.state.changes.keys()];
    if (picked.some((p) => [...p.state.changes.keys()].every((c) => columnsChanged.includes(c)))) continue;
    picked.push(f);
  }
  const result = picked.map(({ state, score: p }) => ({
    changes: Object.fromEntries(
      [...state.changes].map(([name, to]) => [name, { from: row[name] ?? null, to }]),
    ),
    cost: state.cost,
    score: p,
  }));
  const reason =
    result.length >= count
      ? undefined
      : exhausted
        ? `the evaluation budget (${budget} rows) ran out`
        : result.length === 0
          ? `no change of at most ${maxChanges} column(s) among the candidates reaches the decision`
          : `only ${result.length} diverse counterfactual(s) within ${maxChanges} change(s)`;
  return { counterfactuals: result, evaluated, ...(reason ? { reason } : {}), originalScore };
}
