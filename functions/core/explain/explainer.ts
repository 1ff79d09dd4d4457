/**
 * A model's explainer: what training stores beside the model so that any of its predictions can
 * be explained later, by the CLI, by the serving API, or from a captured prediction.
 *
 * The artifact holds what the ONNX file does not: the fitted feature pipeline (to turn raw rows
 * into model inputs), a seeded sample of the training rows as the background (what "a feature
 * is absent" means, as `shap` and Clarify define it), the trees' node covers (path-dependent
 * TreeSHAP) or the linear model's coefficients. The trees themselves are read from the ONNX file
 * that is served, so an explanation can never describe another model than the one that answered.
 *
 * Values explain the margin (log-odds): for both Keel models it is where contributions add up.
 * `baseValue + Σ contributions = margin` holds per row to rounding, and each row's `prediction`
 * is the probability of that margin.
 */

import type { Column, Table } from '../data/table.ts';
import { attributeGroups } from '../evaluation/report.ts';
import { adjustedMargins, type ThresholdRule } from '../fairness/threshold.ts';
import { type FittedPipeline, transform } from '../features/pipeline.ts';
import { sigmoid } from '../linalg.ts';
import type { TrainedModel } from '../models/model.ts';
import { Rng } from '../random.ts';
import { attributeToColumns } from './attribution.ts';
import { kernelDesign, solveKernel } from './kernel.ts';
import { linearShap } from './linear.ts';
import {
  type ExplainedEnsemble,
  InterventionalTreeShap,
  PathDependentTreeShap,
  type ShapValues,
} from './treeshap.ts';

export const EXPLAINER_FORMAT = 'keel.explainer/v1';

/** Training rows kept as the background, as `shap`'s and Clarify's usual sample. */
export const DEFAULT_BACKGROUND_ROWS = 100;

/** Holdout rows kept as the reference that global diagnostics (drift attribution) compare with. */
export const DEFAULT_REFERENCE_ROWS = 1000;

/** One raw row: model inputs by name, null where missing. */
export type Instance = Readonly<Record<string, number | string | null>>;

export interface ExplainerArtifact {
  readonly format: typeof EXPLAINER_FORMAT;
  /** `tree` for a GBDT (TreeSHAP over the served ONNX trees), `linear` for logistic regression. */
  readonly method: 'tree' | 'linear';
  readonly pipeline: FittedPipeline;
  /** A seeded sample of the training rows (model inputs only). */
  readonly background: readonly Instance[];
  /**
   * A larger seeded sample of the holdout (the population the drift baseline and the money
   * estimate come from): what drift attribution compares a window with. @default the background
   */
  readonly reference?: readonly Instance[];
  /** Per tree, the training rows that reached each node, by ONNX node id. */
  readonly covers?: readonly (readonly number[])[];
  /** The logistic model on its inputs (after the pipeline). */
  readonly linear?: { readonly coefficients: readonly number[]; readonly intercept: number };
  /**
   * Threshold post-processing of the served model: its answer is the rule's adjusted margin,
   * so each row's explanation adds the adjustment as the attribute's contribution.
   */
  readonly postprocess?: ThresholdRule;
}

/** How absent features are integrated out, in `shap.TreeExplainer`'s terms. */
export type FeaturePerturbation = 'interventional' | 'tree-path-dependent';

export interface ExplainedRow {
  /** The probability of `margin`. */
  readonly prediction: number;
  /** The model's log-odds: `baseValue + Σ contributions`. */
  readonly margin: number;
  /** Per raw column (and per derived feature, listed in `derived`). */
  readonly contributions: Record<string, number>;
  /** Per model input, keyed by `keel.feature_names` (absent for KernelSHAP over raw columns). */
  readonly inputContributions?: Record<string, number>;
}

export interface Explanation {
  readonly method: 'tree' | 'linear' | 'kernel';
  readonly featurePerturbation: FeaturePerturbation;
  readonly outputSpace: 'log-odds';
  readonly baseValue: number;
  /** Features reported under their own name, with the raw columns they derive from. */
  readonly derived: readonly { readonly name: string; readonly sources: readonly string[] }[];
  readonly rows: ExplainedRow[];
}

/** Rows of `table` as instances of `inputs`, null where missing. */
export function instancesOf(table: Table, inputs: FittedPipeline['inputs']): Instance[] {
  return Array.from({ length: table.rowCount }, (_, r) =>
    Object.fromEntries(
      inputs.map(({ name }) => {
        const column = table.columns.get(name) as Column;
        if (column.kind === 'numeric') {
          const v = column.values[r] as number;
          return [name, Number.isNaN(v) ? null : v];
        }
        const code = column.codes[r] as number;
        return [name, code < 0 ? null : (column.dictionary[code] as string)];
      }),
    ),
  );
}

/** Instances as a table of `inputs`; a value of the wrong type is missing. */
export function tableOfInstances(instances: readonly Instance[], inputs: FittedPipeline['inputs']): Table {
  const columns = new Map<string, Column>();
  for (const { name, type } of inputs) {
    if (type === 'numeric') {
      columns.set(name, {
        kind: 'numeric',
        values: Float64Array.from(instances, (row) => {
          const v = row[name];
          return typeof v === 'number' ? v : Number.NaN;
        }),
      });
      continue;
    }
    const dictionary: string[] = [];
    const index = new Map<string, number>();
    const codes = Int32Array.from(instances, (row) => {
      const v = row[name];
      if (v === null || v === undefined) return -1;
      const s = String(v);
      let code = index.get(s);
      if (code === undefined) {
        code = dictionary.push(s) - 1;
        index.set(s, code);
      }
      return code;
    });
    columns.set(name, { kind: 'categorical', codes, dictionary });
  }
  return { rowCount: instances.length, columns };
}

/** `rows` rows of `table` drawn without replacement, in table order, as instances. */
function sampleInstances(table: Table, inputs: FittedPipeline['inputs'], rows: number, rng: Rng): Instance[] {
  const want = Math.min(rows, table.rowCount);
  const order = Array.from(rng.permutation(table.rowCount).subarray(0, want)).sort((a, b) => a - b);
  const all = instancesOf(table, inputs);
  return order.map((i) => all[i] as Instance);
}

/**
 * The explainer of a freshly trained model: 100 training rows drawn without replacement
 * (seeded) as the background, and 1,000 holdout rows as the reference.
 */
export function buildExplainerArtifact(
  pipeline: FittedPipeline,
  model: TrainedModel,
  data: { readonly training: Table; readonly holdout?: Table },
  options: {
    readonly seed: number;
    readonly rows?: number;
    readonly referenceRows?: number;
    readonly postprocess?: ThresholdRule;
  },
): ExplainerArtifact {
  const rng = new Rng(options.seed);
  const background = sampleInstances(
    data.training,
    pipeline.inputs,
    options.rows ?? DEFAULT_BACKGROUND_ROWS,
    rng,
  );
  const reference = data.holdout
    ? {
        reference: sampleInstances(
          data.holdout,
          pipeline.inputs,
          options.referenceRows ?? DEFAULT_REFERENCE_ROWS,
          rng,
        ),
      }
    : {};
  const postprocess = options.postprocess ? { postprocess: options.postprocess } : {};
  return model.kind === 'gbdt'
    ? {
        format: EXPLAINER_FORMAT,
        method: 'tree',
        pipeline,
        background,
        ...reference,
        covers: model.trees.map((t) => Array.from(t.cover)),
        ...postprocess,
      }
    : {
        format: EXPLAINER_FORMAT,
        method: 'linear',
        pipeline,
        background,
        ...reference,
        linear: { coefficients: Array.from(model.coefficients), intercept: model.intercept },
        ...postprocess,
      };
}

/** Why an explainer cannot be built or cannot explain as asked; `field` names the culprit. */
export class ExplainerError extends RangeError {
  readonly field: string;

  constructor(message: string, field: string) {
    super(message);
    this.name = 'ExplainerError';
    this.field = field;
  }
}

/**
 * Explains rows of a model with its artifact. Built once per model (it transforms the
 * background once); `explain` is synchronous and pure.
 */
export class ModelExplainer {
  readonly artifact: ExplainerArtifact;
  readonly #ensemble: ExplainedEnsemble | undefined;
  readonly #background: ReturnType<typeof transform>['matrix'];
  /** Interventional TreeSHAP prepared once for the background: each request pays per row only. */
  readonly #interventional: InterventionalTreeShap | undefined;
  /** Path-dependent TreeSHAP's leaf tables, built on the first such request (about 10 MB). */
  #pathDependent: PathDependentTreeShap | undefined;

  /**
   * `trees` are the served model's (read from its ONNX file) for a tree explainer; the
   * artifact's covers are attached to them by node id.
   */
  constructor(artifact: ExplainerArtifact, trees?: ExplainedEnsemble) {
    if (artifact.format !== EXPLAINER_FORMAT)
      throw new ExplainerError(`unknown explainer format ${String(artifact.format)}`, 'format');
    if (artifact.background.length === 0)
      throw new ExplainerError('the background has no rows', 'background');
    this.artifact = artifact;
    const width = artifact.pipeline.features.length;
    if (artifact.method === 'tree') {
      if (!trees) throw new ExplainerError('a tree explainer needs the model’s trees', 'trees');
      if (trees.features !== width)
        throw new ExplainerError(
          `the trees take ${trees.features} inputs; the pipeline makes ${width}`,
          'trees',
        );
      const covers = artifact.covers;
      if (covers && covers.length !== trees.trees.length)
        throw new ExplainerError(`${covers.length} covers for ${trees.trees.length} trees`, 'covers');
      this.#ensemble = {
        ...trees,
        trees: trees.trees.map((tree, t) => {
          const cover = covers?.[t];
          if (!cover) return tree;
          if (cover.length !== tree.feature.length)
            throw new ExplainerError(
              `tree ${t} has ${tree.feature.length} nodes and ${cover.length} covers`,
              'covers',
            );
          return { ...tree, cover: Float64Array.from(cover) };
        }),
      };
    } else {
      const coefficients = artifact.linear?.coefficients;
      if (coefficients?.length !== width)
        throw new ExplainerError(
          `a linear explainer needs ${width} coefficients, has ${coefficients?.length ?? 0}`,
          'linear',
        );
    }
    this.#background = transform(
      artifact.pipeline,
      tableOfInstances(artifact.background, artifact.pipeline.inputs),
    ).matrix;
    this.#interventional = this.#ensemble
      ? new InterventionalTreeShap(this.#ensemble, this.#background)
      : undefined;
  }

  get method(): ExplainerArtifact['method'] {
    return this.artifact.method;
  }

  /** How it can integrate absent features out: path-dependent needs every tree's covers. */
  get perturbations(): readonly FeaturePerturbation[] {
    return this.#ensemble?.trees.every((t) => t.cover)
      ? ['interventional', 'tree-path-dependent']
      : ['interventional'];
  }

  /** Explains each row of `data` (raw columns; extra columns are ignored). */
  explain(data: Table, options: { readonly featurePerturbation?: FeaturePerturbation } = {}): Explanation {
    const perturbation = options.featurePerturbation ?? 'interventional';
    const { pipeline } = this.artifact;
    const x = transform(pipeline, data).matrix;
    let shap: ShapValues;
    if (!this.perturbations.includes(perturbation))
      throw new ExplainerError(
        this.#ensemble
          ? 'this model was stored without node covers: it is explained interventionally only'
          : 'a linear model is explained interventionally only',
        'featurePerturbation',
      );
    if (this.#ensemble) {
      if (perturbation === 'tree-path-dependent') {
        this.#pathDependent ??= new PathDependentTreeShap(this.#ensemble);
        shap = this.#pathDependent.explain(x);
      } else shap = (this.#interventional as InterventionalTreeShap).explain(x);
    } else {
      shap = linearShap(
        this.artifact.linear as NonNullable<ExplainerArtifact['linear']>,
        x,
        this.#background,
      );
    }
    const byColumn = attributeToColumns(shap.values, x.rows, pipeline.features);
    const names = pipeline.features.map((f) => f.name);
    const width = byColumn.names.length;
    // A post-processed model answers with the rule's margin: the step from the base model's
    // margin is the protected attribute's doing, and is reported as its contribution.
    const rule = this.artifact.postprocess;
    const served = rule
      ? adjustedMargins(rule, shap.margins, attributeGroups(data, rule.attribute))
      : shap.margins;
    const rows = Array.from({ length: x.rows }, (_, i) => ({
      prediction: sigmoid(served[i] as number),
      margin: served[i] as number,
      contributions: {
        ...Object.fromEntries(byColumn.names.map((n, k) => [n, byColumn.values[i * width + k] as number])),
        ...(rule ? { [rule.attribute]: (served[i] as number) - (shap.margins[i] as number) } : {}),
      },
      inputContributions: Object.fromEntries(names.map((n, j) => [n, shap.values[i * x.cols + j] as number])),
    }));
    return {
      method: this.artifact.method,
      featurePerturbation: perturbation,
      outputSpace: 'log-odds',
      baseValue: shap.baseValue,
      derived: byColumn.derived,
      rows,
    };
  }
}

/** float32's smallest step near 1: a model's float32 probabilities can round to 0 or 1. */
const EDGE = 2 ** -24;

/** The log-odds of a probability, kept finite where float32 rounded it to 0 or 1. */
export const logit = (p: number): number => {
  const q = Math.min(1 - EDGE, Math.max(EDGE, p));
  return Math.log(q / (1 - q));
};

/**
 * Writes `value` over the runs `[k·width, (k + 1)·width)` of each `k` in `runs`: a plain loop,
 * since `fill` per run cost more in call overhead than in stores (runs are ~100 long).
 */
function fillRuns(target: Float64Array, runs: Int32Array, width: number, value: number): void {
  for (let i = 0; i < runs.length; i++) {
    const start = (runs[i] as number) * width;
    for (let r = start; r < start + width; r++) target[r] = value;
  }
}

/** {@link fillRuns} for category codes. */
function fillCodeRuns(target: Int32Array, runs: Int32Array, width: number, value: number): void {
  for (let i = 0; i < runs.length; i++) {
    const start = (runs[i] as number) * width;
    for (let r = start; r < start + width; r++) target[r] = value;
  }
}

/** Mean of each run of `width` values: v(S) per coalition from its background rows' margins. */
function runMeans(values: ArrayLike<number>, width: number, out: Float64Array): void {
  for (let k = 0; k < out.length; k++) {
    let sum = 0;
    const start = k * width;
    for (let r = start; r < start + width; r++) sum += values[r] as number;
    out[k] = sum / width;
  }
}

/**
 * KernelSHAP of any scorer over raw columns (the players). `margins` scores a table in log-odds
 * (a probability model's scorer composed with {@link logit}); v(S) is the mean margin over the
 * background of the rows that take x's values on S and the background's elsewhere.
 *
 * The coalitions are drawn once ({@link kernelDesign}) and are the same for every row, so the
 * table of coalition × background rows is built once: the background's values are written
 * where a coalition leaves a player out and stay; only x's values are rewritten per row. Each
 * row is then one `margins` call over that table (the scorer gets the same table every time
 * and must not keep it) and one back-substitution.
 */
export async function kernelExplain(
  margins: (table: Table) => Promise<ArrayLike<number>>,
  data: Table,
  background: Table,
  players: readonly string[],
  options: {
    readonly samples?: number;
    readonly seed?: number;
    readonly onRow?: (done: number) => void;
  } = {},
): Promise<Explanation> {
  const nb = background.rowCount;
  if (nb < 1) throw new ExplainerError('the background has no rows', 'background');
  const design = kernelDesign(players.length, {
    ...(options.samples !== undefined ? { samples: options.samples } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
  });
  const { coalitions, count } = design;
  const M = players.length;
  const synthetic = players.map((name, j) => {
    const source = data.columns.get(name);
    const base = background.columns.get(name);
    if (!source || !base)
      throw new ExplainerError(`${name} is missing from the ${source ? 'background' : 'data'}`, name);
    const takes: number[] = [];
    for (let k = 0; k < count; k++) if (coalitions[k * M + j] === 1) takes.push(k);
    const takesX = Int32Array.from(takes);
    if (source.kind === 'numeric' && base.kind === 'numeric') {
      const values = new Float64Array(count * nb);
      for (let k = 0; k < count; k++) if (coalitions[k * M + j] === 0) values.set(base.values, k * nb);
      return {
        column: { kind: 'numeric', values } as Column,
        write: (i: number) => {
          fillRuns(values, takesX, nb, source.values[i] as number);
        },
      };
    }
    if (source.kind !== 'categorical' || base.kind !== 'categorical')
      throw new ExplainerError(`${name} is ${source.kind} in the data, ${base.kind} in the background`, name);
    // One dictionary for both: the background's, extended with the rows' values as they come.
    const dictionary = [...base.dictionary];
    const index = new Map(dictionary.map((value, code) => [value, code]));
    const codes = new Int32Array(count * nb);
    for (let k = 0; k < count; k++) if (coalitions[k * M + j] === 0) codes.set(base.codes, k * nb);
    return {
      column: { kind: 'categorical', codes, dictionary } as Column,
      write: (i: number) => {
        const own = source.codes[i] as number;
        let mine = -1;
        if (own >= 0) {
          const value = source.dictionary[own] as string;
          mine = index.get(value) ?? -1;
          if (mine < 0) {
            mine = dictionary.push(value) - 1;
            index.set(value, mine);
          }
        }
        fillCodeRuns(codes, takesX, nb, mine);
      },
    };
  });
  const table: Table = {
    rowCount: count * nb,
    columns: new Map(players.map((name, j) => [name, (synthetic[j] as { column: Column }).column])),
  };

  const rows: ExplainedRow[] = [];
  let baseValue = Number.NaN;
  const v = new Float64Array(count);
  for (let i = 0; i < data.rowCount; i++) {
    for (const player of synthetic) player.write(i);
    const scored = await margins(table);
    if (scored.length !== count * nb)
      throw new ExplainerError(
        `the scorer returned ${scored.length} margins for ${count * nb} rows`,
        'scorer',
      );
    runMeans(scored, nb, v);
    const result = solveKernel(design, v);
    baseValue = result.baseValue;
    rows.push({
      prediction: sigmoid(result.output),
      margin: result.output,
      contributions: Object.fromEntries(players.map((p, j) => [p, result.values[j] as number])),
    });
    options.onRow?.(i + 1);
  }
  return {
    method: 'kernel',
    featurePerturbation: 'interventional',
    outputSpace: 'log-odds',
    baseValue,
    derived: [],
    rows,
  };
}
