/**
 * The retraining dataset: the base training data, plus labelled production data (captured
 * predictions joined with their fed-back outcomes), split into the parts the pipeline needs.
 * Pure functions over tables and capture records; reading S3 and lineage is the caller's.
 */

import { CategoricalBuilder, type Column, cell, type Table } from '../core/data/table.ts';
import { Rng } from '../core/random.ts';
import type { CreditScenario } from '../core/synthetic/credit.ts';
import { stratifiedSplit, takeRows } from '../core/training/train.ts';
import { ValidationError } from '../kernel/errors.ts';

/** Rows of `b` appended to `a`, in `a`'s columns (a column `b` lacks is missing there). */
export function concatTables(a: Table, b: Table): Table {
  const rowCount = a.rowCount + b.rowCount;
  const columns = new Map<string, Column>();
  for (const [name, column] of a.columns) {
    const other = b.columns.get(name);
    if (column.kind === 'numeric') {
      const values = new Float64Array(rowCount).fill(Number.NaN);
      values.set(column.values);
      if (other?.kind === 'numeric') values.set(other.values, a.rowCount);
      columns.set(name, { kind: 'numeric', values });
    } else {
      const builder = new CategoricalBuilder();
      for (let r = 0; r < a.rowCount; r++) builder.push(cell(column, r) as string | null);
      for (let r = 0; r < b.rowCount; r++) {
        const value = other ? cell(other, r) : null;
        builder.push(value === null ? null : String(value));
      }
      columns.set(name, builder.build());
    }
  }
  return { rowCount, columns };
}

export interface DatasetSplit {
  /** What the candidates train on (their own holdout for early stopping comes out of it). */
  readonly train: Table;
  /** Base rows no candidate sees: candidate and production are compared on them. */
  readonly holdout: Table;
  /** Labelled production rows no candidate sees, or none when too few came back. */
  readonly production: Table | undefined;
}

/**
 * Splits base and labelled production data: a stratified holdout of the base data, and a
 * share of the production rows kept for evaluation (the most recent ones: the traffic the
 * model will meet next); the rest of both is training data.
 */
export function splitDataset(
  base: Table,
  production: Table,
  options: {
    readonly label: string;
    readonly holdout: number;
    readonly productionEvaluationShare: number;
    readonly minProductionRows: number;
    readonly seed: number;
  },
): DatasetSplit {
  const labels = base.columns.get(options.label);
  if (labels?.kind !== 'numeric') {
    throw new ValidationError('The base data has no numeric label column', [
      { path: 'data.label', message: `no numeric column "${options.label}"` },
    ]);
  }
  const split = stratifiedSplit(labels.values, options.holdout, new Rng(options.seed));
  const baseTrain = takeRows(base, split.train);
  const holdout = takeRows(base, split.holdout);
  if (production.rowCount === 0) return { train: baseTrain, holdout, production: undefined };
  const kept = Math.round(production.rowCount * options.productionEvaluationShare);
  if (kept < options.minProductionRows) {
    // Too few to judge on: they still teach the candidate something.
    return { train: concatTables(baseTrain, production), holdout, production: undefined };
  }
  const cut = production.rowCount - kept;
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  return {
    train: concatTables(baseTrain, takeRows(production, range(0, cut))),
    holdout,
    production: takeRows(production, range(cut, production.rowCount)),
  };
}

const SCENARIO_KEYS = [
  'rows',
  'seed',
  'covariateDrift',
  'harmlessDrift',
  'conceptDrift',
  'labelNoise',
  'missingIncome',
  'groupBias',
  'groupProxy',
  'staleEmployment',
] as const;

/**
 * Parses `synthetic:credit?rows=5000&seed=7&groupBias=2` (the config's synthetic data source)
 * into a scenario; unknown or non-numeric knobs are a validation error naming them.
 */
export function syntheticScenario(source: string): CreditScenario {
  const match = /^synthetic:credit(?:\?(.*))?$/.exec(source);
  if (!match) {
    throw new ValidationError('Unknown synthetic data source', [
      { path: 'data.source', message: `expected synthetic:credit[?knob=value&…], got "${source}"` },
    ]);
  }
  const params = new URLSearchParams(match[1] ?? '');
  const scenario: Record<string, number> = { rows: 5000, seed: 42 };
  const issues = [];
  for (const [key, value] of params) {
    const n = Number(value);
    if (!(SCENARIO_KEYS as readonly string[]).includes(key))
      issues.push({ path: `data.source.${key}`, message: `unknown knob; use ${SCENARIO_KEYS.join(', ')}` });
    else if (value.trim() === '' || !Number.isFinite(n))
      issues.push({ path: `data.source.${key}`, message: `expected a number, got "${value}"` });
    else scenario[key] = n;
  }
  if (issues.length > 0) throw new ValidationError('Invalid synthetic data source', issues);
  return scenario as unknown as CreditScenario;
}

/** What the data section of a model's config names, to be checked against the data's columns. */
export interface DataColumnsSpec {
  readonly label: string;
  readonly protectedAttributes: readonly string[];
  readonly piiFields: readonly string[];
}

/**
 * The config's named columns that the data lacks, each with the columns it has: a misspelt
 * `data.label` must be caught before anything runs, not as "a step failed after its retries".
 */
export function missingDataColumns(
  columns: Iterable<string>,
  spec: DataColumnsSpec,
): ValidationError | undefined {
  const have = [...columns];
  const known = new Set(have);
  const list = have.join(', ');
  const issues = [
    ...(known.has(spec.label)
      ? []
      : [{ path: 'data.label', message: `no column "${spec.label}"; the data has: ${list}` }]),
    ...spec.protectedAttributes.flatMap((name, i) =>
      known.has(name)
        ? []
        : [{ path: `data.protectedAttributes.${i}`, message: `no column "${name}"; the data has: ${list}` }],
    ),
  ];
  return issues.length > 0
    ? new ValidationError('The data lacks columns the config names', issues)
    : undefined;
}
