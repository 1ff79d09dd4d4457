import { readFileSync } from 'node:fs';

/** A stored sample, or the parameters of a large generated one (see logistic_sequence in generate_drift.py). */
type StoredSample =
  | (number | null)[]
  | { sequence: { n: number; shift: number; scale: number; phase: number } };

interface Fixture {
  numeric: {
    name: string;
    reference: StoredSample;
    current: StoredSample;
    ksStatistic: number;
    ksPValue: number;
    psi: number;
    edges: number[];
    wasserstein: number;
    wassersteinNormalized: number | null;
    jensenShannon: number;
  }[];
  categorical: {
    name: string;
    reference: number[];
    current: number[];
    statistic: number;
    pValue: number;
    df: number;
    jensenShannon: number;
  }[];
  kolmogorov: { lambda: number; survival: number }[];
  kstwo: { n: number; x: number; sf: number }[];
  smirnov: { n: number; x: number; sf: number }[];
}

const GOLDEN = 0.6180339887498949;

/** The generator's deterministic logistic-shaped sample, rebuilt from its parameters. */
export function logisticSequence(n: number, shift = 0, scale = 1, phase = 0.5): number[] {
  return Array.from({ length: n }, (_, i) => {
    const u = ((i + phase) * GOLDEN) % 1;
    return shift + scale * Math.log(u / (1 - u));
  });
}

function rebuild(sample: StoredSample): (number | null)[] {
  if (Array.isArray(sample)) return sample;
  const { n, shift, scale, phase } = sample.sequence;
  return logisticSequence(n, shift, scale, phase);
}

const fixture = JSON.parse(readFileSync('test/fixtures/reference/drift.json', 'utf8')) as Fixture;

/** Reference values of the drift statistics (test/fixtures/reference/generate_drift.py, scipy and numpy). */
export const driftReference = {
  ...fixture,
  numeric: fixture.numeric.map((c) => ({
    ...c,
    reference: rebuild(c.reference),
    current: rebuild(c.current),
  })),
};
