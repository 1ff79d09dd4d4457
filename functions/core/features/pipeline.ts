/**
 * Feature pipelines as versioned code: a declarative spec (keel.config.json `features`) is
 * fitted on training data, the fitted statistics are kept, and the fitted pipeline's content
 * hash is its version. Steps apply in order to a working set of columns, so a later step sees
 * an earlier one's output (impute → log → ratio …). Every output feature records its source
 * columns, its transformations, an owner and the assumption it rests on.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../kernel/canonical-json.ts';
import { ValidationError } from '../../kernel/errors.ts';
import type { CategoricalColumn, Table } from '../data/table.ts';
import { type Matrix, matrix } from '../linalg.ts';
import type { Transform } from './transforms.ts';

/** The bucket one-hot encoding gives every category it did not keep, and missing values. */
export const OTHER_CATEGORY = '__other__';

interface Provenance {
  readonly owner?: string;
  readonly assumption?: string;
}

export type FittedStep = Provenance &
  (
    | { readonly type: 'impute'; readonly column: string; readonly value: number }
    | { readonly type: 'impute-category'; readonly column: string; readonly value: string }
    | { readonly type: 'clip'; readonly column: string; readonly min?: number; readonly max?: number }
    | { readonly type: 'standardise'; readonly column: string; readonly mean: number; readonly scale: number }
    | { readonly type: 'log'; readonly column: string; readonly offset: number }
    | { readonly type: 'bucketise'; readonly column: string; readonly edges: readonly number[] }
    | { readonly type: 'one-hot'; readonly column: string; readonly categories: readonly string[] }
    | {
        readonly type: 'ratio';
        readonly name: string;
        readonly numerator: string;
        readonly denominator: string;
      }
  );

export interface FeatureProvenance {
  readonly name: string;
  readonly sources: readonly string[];
  readonly transformations: readonly string[];
  readonly owners: readonly string[];
  readonly assumptions: readonly string[];
}

export interface FittedPipeline {
  readonly format: 'keel.pipeline/v1';
  /** Raw input columns and their types: the serving contract. */
  readonly inputs: readonly { readonly name: string; readonly type: 'numeric' | 'categorical' }[];
  readonly steps: readonly FittedStep[];
  readonly features: readonly FeatureProvenance[];
}

type Working = Map<string, Float64Array | { codes: Int32Array; dictionary: readonly string[] }>;

function describe(step: FittedStep): string {
  switch (step.type) {
    case 'impute':
    case 'impute-category':
      return `impute missing with ${JSON.stringify(step.value)}`;
    case 'clip':
      return `clip to [${step.min ?? '-∞'}, ${step.max ?? '∞'}]`;
    case 'standardise':
      return `standardise (mean ${step.mean}, scale ${step.scale})`;
    case 'log':
      return `log(x + ${step.offset})`;
    case 'bucketise':
      return `bucketise at ${step.edges.join(', ')}`;
    case 'one-hot':
      return `one-hot over ${step.categories.join(', ')} + ${OTHER_CATEGORY}`;
    case 'ratio':
      return `${step.numerator} / ${step.denominator}`;
  }
}

function present(values: Float64Array): number[] {
  return Array.from(values).filter((v) => !Number.isNaN(v));
}

/** Linear-interpolation percentile, as numpy's default. */
function percentile(sorted: readonly number[], q: number): number {
  const pos = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (pos - lo);
}

function numeric(work: Working, column: string, step: string): Float64Array {
  const values = work.get(column);
  if (values === undefined)
    throw new ValidationError(`Feature step ${step} names an unknown column`, [
      { path: column, message: 'no such column' },
    ]);
  if (!(values instanceof Float64Array)) {
    throw new ValidationError(`Feature step ${step} needs a numeric column`, [
      { path: column, message: 'is categorical' },
    ]);
  }
  return values;
}

/** Applies one fitted step to the working set, in place. */
function apply(step: FittedStep, work: Working): void {
  switch (step.type) {
    case 'impute': {
      const v = numeric(work, step.column, step.type);
      work.set(
        step.column,
        v.map((x) => (Number.isNaN(x) ? step.value : x)),
      );
      return;
    }
    case 'impute-category': {
      const c = work.get(step.column) as CategoricalColumn;
      let code = c.dictionary.indexOf(step.value);
      const dictionary = code < 0 ? [...c.dictionary, step.value] : c.dictionary;
      if (code < 0) code = dictionary.length - 1;
      work.set(step.column, { codes: c.codes.map((x) => (x < 0 ? code : x)), dictionary });
      return;
    }
    case 'clip': {
      const v = numeric(work, step.column, step.type);
      work.set(
        step.column,
        v.map((x) =>
          Math.min(step.max ?? Number.POSITIVE_INFINITY, Math.max(step.min ?? Number.NEGATIVE_INFINITY, x)),
        ),
      );
      return;
    }
    case 'standardise': {
      const v = numeric(work, step.column, step.type);
      work.set(
        step.column,
        v.map((x) => (x - step.mean) / step.scale),
      );
      return;
    }
    case 'log': {
      const v = numeric(work, step.column, step.type);
      // A value the log cannot take becomes missing rather than -Infinity.
      work.set(
        step.column,
        v.map((x) => (x + step.offset > 0 ? Math.log(x + step.offset) : Number.NaN)),
      );
      return;
    }
    case 'bucketise': {
      const v = numeric(work, step.column, step.type);
      work.set(
        step.column,
        v.map((x) => (Number.isNaN(x) ? Number.NaN : step.edges.filter((e) => e <= x).length)),
      );
      return;
    }
    case 'ratio': {
      const a = numeric(work, step.numerator, step.type);
      const b = numeric(work, step.denominator, step.type);
      work.set(
        step.name,
        a.map((x, i) => (b[i] === 0 ? Number.NaN : x / (b[i] as number))),
      );
      return;
    }
    case 'one-hot': {
      const c = work.get(step.column);
      if (c === undefined || c instanceof Float64Array) {
        throw new ValidationError('one-hot needs a categorical column', [
          { path: step.column, message: 'not categorical' },
        ]);
      }
      const kept = step.categories.map((category) => c.dictionary.indexOf(category));
      for (const [k, category] of step.categories.entries()) {
        const code = kept[k] as number;
        work.set(
          `${step.column}=${category}`,
          Float64Array.from(c.codes, (x) => (x === code && code >= 0 ? 1 : 0)),
        );
      }
      work.set(
        `${step.column}=${OTHER_CATEGORY}`,
        Float64Array.from(c.codes, (x) => (kept.includes(x) && x >= 0 ? 0 : 1)),
      );
      work.delete(step.column);
      return;
    }
  }
}

function workingSet(table: Table, inputs: FittedPipeline['inputs']): Working {
  const work: Working = new Map();
  for (const { name, type } of inputs) {
    const column = table.columns.get(name);
    if (column === undefined)
      throw new ValidationError('Input is missing a column the pipeline needs', [
        { path: name, message: 'no such column' },
      ]);
    if (column.kind !== type)
      throw new ValidationError('Input column has the wrong type', [
        { path: name, message: `expected ${type}, got ${column.kind}` },
      ]);
    work.set(
      name,
      column.kind === 'numeric' ? column.values : { codes: column.codes, dictionary: column.dictionary },
    );
  }
  return work;
}

/** Fits `spec` on training data. */
export function fitPipeline(spec: readonly Transform[], table: Table): FittedPipeline {
  const referenced = new Set<string>();
  for (const t of spec) {
    if (t.type === 'ratio') {
      referenced.add(t.numerator);
      referenced.add(t.denominator);
    } else referenced.add(t.column);
  }
  const created = new Set(spec.filter((t) => t.type === 'ratio').map((t) => (t as { name: string }).name));
  const inputs = [...referenced]
    .filter((name) => !created.has(name))
    .map((name) => {
      const column = table.columns.get(name);
      if (column === undefined)
        throw new ValidationError('A feature names a column the data lacks', [
          { path: name, message: 'no such column' },
        ]);
      return { name, type: column.kind };
    });
  const work = workingSet(table, inputs);
  const steps: FittedStep[] = [];
  const lineage = new Map<
    string,
    { sources: Set<string>; transformations: string[]; owners: Set<string>; assumptions: Set<string> }
  >(
    inputs.map((i) => [
      i.name,
      { sources: new Set([i.name]), transformations: [], owners: new Set(), assumptions: new Set() },
    ]),
  );

  for (const t of spec) {
    const provenance: Provenance = {
      ...(t.owner ? { owner: t.owner } : {}),
      ...(t.assumption ? { assumption: t.assumption } : {}),
    };
    let step: FittedStep;
    switch (t.type) {
      case 'impute': {
        const current = work.get(t.column);
        if (current instanceof Float64Array) {
          const values = present(current).sort((a, b) => a - b);
          const value =
            t.strategy === 'constant'
              ? Number(t.value)
              : t.strategy === 'mean'
                ? values.reduce((a, b) => a + b, 0) / values.length
                : percentile(values, 50);
          if (!Number.isFinite(value)) {
            throw new ValidationError('Cannot impute', [
              {
                path: t.column,
                message:
                  t.strategy === 'constant' ? 'constant value must be a number' : 'column has no values',
              },
            ]);
          }
          step = { type: 'impute', column: t.column, value, ...provenance };
        } else {
          if (t.strategy !== 'constant' || typeof t.value !== 'string') {
            throw new ValidationError('Cannot impute a categorical column', [
              { path: t.column, message: 'use strategy "constant" with a string value' },
            ]);
          }
          step = { type: 'impute-category', column: t.column, value: t.value, ...provenance };
        }
        break;
      }
      case 'clip':
        step = {
          type: 'clip',
          column: t.column,
          ...(t.min !== undefined ? { min: t.min } : {}),
          ...(t.max !== undefined ? { max: t.max } : {}),
          ...provenance,
        };
        break;
      case 'standardise': {
        // Declared centre and scale are public: nothing about the data is learnt.
        if (t.mean !== undefined && t.scale !== undefined) {
          step = { type: 'standardise', column: t.column, mean: t.mean, scale: t.scale, ...provenance };
          break;
        }
        const values = present(numeric(work, t.column, t.type));
        const mean = values.reduce((a, b) => a + b, 0) / values.length;
        const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
        // A constant column keeps scale 1, as scikit-learn's StandardScaler does.
        step = { type: 'standardise', column: t.column, mean, scale: sd > 0 ? sd : 1, ...provenance };
        break;
      }
      case 'log':
        step = { type: 'log', column: t.column, offset: t.offset, ...provenance };
        break;
      case 'bucketise': {
        const sorted = present(numeric(work, t.column, t.type)).sort((a, b) => a - b);
        const edges = [
          ...new Set(Array.from({ length: t.bins + 1 }, (_, k) => percentile(sorted, (100 * k) / t.bins))),
        ];
        step = { type: 'bucketise', column: t.column, edges: edges.slice(1, -1), ...provenance };
        break;
      }
      case 'one-hot': {
        const c = work.get(t.column);
        if (c === undefined || c instanceof Float64Array) {
          throw new ValidationError('one-hot needs a categorical column', [
            { path: t.column, message: 'is numeric' },
          ]);
        }
        const counts = new Map<number, number>();
        for (const code of c.codes) if (code >= 0) counts.set(code, (counts.get(code) ?? 0) + 1);
        // Declared categories are public: nothing about the data is learnt (private training needs it).
        const categories = t.categories
          ? [...t.categories]
          : [...counts]
              .map(([code, count]) => ({ name: c.dictionary[code] as string, count }))
              .sort((a, b) => b.count - a.count || a.name.localeCompare(b.name))
              .slice(0, t.maxCategories)
              .map((x) => x.name);
        step = { type: 'one-hot', column: t.column, categories, ...provenance };
        break;
      }
      case 'ratio':
        step = {
          type: 'ratio',
          name: t.name,
          numerator: t.numerator,
          denominator: t.denominator,
          ...provenance,
        };
        break;
    }
    apply(step, work);
    steps.push(step);

    const touched = step.type === 'ratio' ? step.name : step.column;
    const from = step.type === 'ratio' ? [step.numerator, step.denominator] : [step.column];
    const previous = from.map((f) => lineage.get(f)).filter((x) => x !== undefined);
    const merged = {
      sources: new Set(previous.flatMap((p) => [...p.sources])),
      transformations: [
        ...(step.type === 'ratio' ? [] : (lineage.get(touched)?.transformations ?? [])),
        describe(step),
      ],
      owners: new Set([...previous.flatMap((p) => [...p.owners]), ...(step.owner ? [step.owner] : [])]),
      assumptions: new Set([
        ...previous.flatMap((p) => [...p.assumptions]),
        ...(step.assumption ? [step.assumption] : []),
      ]),
    };
    if (step.type === 'one-hot') {
      for (const name of [
        ...step.categories.map((c) => `${step.column}=${c}`),
        `${step.column}=${OTHER_CATEGORY}`,
      ])
        lineage.set(name, merged);
      lineage.delete(step.column);
    } else lineage.set(touched, merged);
  }

  const features = [...work.keys()]
    .filter((name) => work.get(name) instanceof Float64Array)
    .map((name) => {
      const l = lineage.get(name);
      return {
        name,
        sources: [...(l?.sources ?? [name])],
        transformations: l?.transformations ?? [],
        owners: [...(l?.owners ?? [])],
        assumptions: [...(l?.assumptions ?? [])],
      };
    });
  return { format: 'keel.pipeline/v1', inputs, steps, features };
}

/** Applies a fitted pipeline: one row per input row, one column per feature, in `features` order. */
export function transform(pipeline: FittedPipeline, table: Table): { matrix: Matrix; names: string[] } {
  const work = workingSet(table, pipeline.inputs);
  for (const step of pipeline.steps) apply(step, work);
  const names = pipeline.features.map((f) => f.name);
  const out = matrix(table.rowCount, names.length);
  names.forEach((name, j) => {
    const values = work.get(name) as Float64Array;
    for (let i = 0; i < table.rowCount; i++) out.data[i * names.length + j] = values[i] as number;
  });
  return { matrix: out, names };
}

/** The pipeline's version: SHA-256 of its canonical JSON. */
export function pipelineHash(pipeline: FittedPipeline): string {
  return createHash('sha256').update(canonicalJson(pipeline)).digest('hex');
}
