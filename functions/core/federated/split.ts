/**
 * How a simulation deals one table's rows out to federated clients.
 *
 * - **iid**: a shuffle cut into equal parts.
 * - **non-iid**: label skew by a Dirichlet draw per class (Hsu, Qi & Brown 2019, "Measuring the
 *   Effects of Non-Identical Data Distribution for Federated Visual Classification"): each class's
 *   rows go to the clients in proportions p ~ Dir(α·1); α = 0.5 gives clients of very different
 *   sizes and default rates. Draws are repeated until every client has `minRows` (as the
 *   reference implementations do), so no client is empty.
 */
import { Rng } from '../random.ts';

export type ClientSplit = 'iid' | 'non-iid';

export interface SplitOptions {
  readonly clients: number;
  readonly split: ClientSplit;
  readonly seed: number;
  /** Dirichlet concentration of the non-IID split. @default 0.5 */
  readonly alpha?: number;
  /** Fewest rows a client may get. @default 20 */
  readonly minRows?: number;
}

/** Gamma(shape, 1) by Marsaglia & Tsang (2000), boosted for shape < 1. */
function gamma(shape: number, rng: Rng): number {
  if (shape < 1) return gamma(shape + 1, rng) * rng.uniform() ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const x = rng.normal();
    const v = (1 + c * x) ** 3;
    if (v <= 0) continue;
    const u = rng.uniform();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** A draw from the symmetric Dirichlet distribution Dir(α·1) of dimension k. */
export function dirichlet(k: number, alpha: number, rng: Rng): number[] {
  const draws = Array.from({ length: k }, () => gamma(alpha, rng));
  const total = draws.reduce((a, b) => a + b, 0);
  return draws.map((g) => g / total);
}

/** The row indices of each client. */
export function splitClients(labels: ArrayLike<number>, options: SplitOptions): Int32Array[] {
  const { clients: k } = options;
  const n = labels.length;
  const minRows = options.minRows ?? 20;
  if (!(Number.isInteger(k) && k >= 2)) throw new RangeError(`clients must be a whole number ≥ 2, got ${k}`);
  if (n < k * minRows) throw new RangeError(`${n} rows cannot give ${k} clients ${minRows} rows each`);
  const rng = new Rng(options.seed);
  if (options.split === 'iid') {
    const order = rng.permutation(n);
    return Array.from({ length: k }, (_, c) =>
      order.slice(Math.floor((c * n) / k), Math.floor(((c + 1) * n) / k)),
    );
  }
  const alpha = options.alpha ?? 0.5;
  const classes = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const label = labels[i] as number;
    const rows = classes.get(label) ?? [];
    rows.push(i);
    classes.set(label, rows);
  }
  for (let attempt = 0; attempt < 1000; attempt++) {
    const parts: number[][] = Array.from({ length: k }, () => []);
    for (const rows of classes.values()) {
      const order = rng.permutation(rows.length);
      const p = dirichlet(k, alpha, rng);
      let start = 0;
      let cumulative = 0;
      p.forEach((share, c) => {
        cumulative += share;
        const end = c === k - 1 ? rows.length : Math.round(cumulative * rows.length);
        for (let r = start; r < end; r++) (parts[c] as number[]).push(rows[order[r] as number] as number);
        start = end;
      });
    }
    if (parts.every((rows) => rows.length >= minRows))
      return parts.map((rows) => Int32Array.from(rows).sort());
  }
  throw new RangeError(
    `no Dirichlet(${alpha}) split in 1,000 draws gave each of ${k} clients ${minRows} rows`,
  );
}
