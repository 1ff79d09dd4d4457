/**
 * Prediction requests, validated against the model's input schema: the plain JSON API
 * (`{"instances": [{feature: value}]}`) and the Open Inference Protocol v2 (one tensor per
 * feature). Both become the same columns for the scorer; every bad field is reported at once.
 */
import * as z from '../contracts/zod.ts';
import { FLOAT32_MAX } from '../core/data/table.ts';
import type { ModelInput } from '../core/onnx/runtime.ts';
import { type FieldIssue, ValidationError } from '../kernel/errors.ts';

/** Longest categorical value accepted: categories are short labels, not documents. */
export const MAX_STRING_LENGTH = 1024;
/** Issues listed in one error response; the rest are counted. */
export const MAX_ISSUES = 100;

export { FLOAT32_MAX };

export interface Columns {
  /** The model's inputs, and only those: what is scored. */
  readonly columns: ReadonlyMap<string, readonly (number | string | null)[]>;
  readonly rows: number;
  /** Declared non-model fields (protected attributes, ids): captured, never scored. */
  readonly extras?: ReadonlyMap<string, readonly (number | string | null)[]>;
  /** Per row, the numeric inputs outside their training range (policy `flag` or `clip`). */
  readonly outOfRange?: readonly (readonly string[])[];
  /** What `parameters` asked of explanations. @default none asked */
  readonly explain?: ExplainRequest;
}

/** `parameters.explain` (OIP v2) and `parameters.feature_perturbation` (both APIs). */
export interface ExplainRequest {
  /** Whether the caller asked for explanations (`:explain` always does). */
  readonly requested: boolean;
  /** @default 'interventional' */
  readonly featurePerturbation?: 'interventional' | 'tree-path-dependent';
}

const PERTURBATIONS = ['interventional', 'tree-path-dependent'];

/** The explanation parameters of a request, judged: every bad one is an issue naming it. */
function explainOf(parameters: Readonly<Record<string, unknown>> | undefined, issues: FieldIssue[]) {
  if (!parameters) return {};
  const { explain, feature_perturbation: perturbation } = parameters;
  if (explain !== undefined && typeof explain !== 'boolean')
    issues.push({
      path: 'parameters.explain',
      message: `expected true or false, got ${JSON.stringify(explain)}`,
    });
  if (perturbation !== undefined && !PERTURBATIONS.includes(perturbation as string))
    issues.push({
      path: 'parameters.feature_perturbation',
      message: `expected ${PERTURBATIONS.join(' or ')}, got ${JSON.stringify(perturbation)}`,
    });
  if (explain === undefined && perturbation === undefined) return {};
  return {
    explain: {
      requested: explain === true,
      ...(typeof perturbation === 'string' && PERTURBATIONS.includes(perturbation)
        ? { featurePerturbation: perturbation as NonNullable<ExplainRequest['featurePerturbation']> }
        : {}),
    },
  };
}

/** A numeric input's finite range in the training data. */
export interface InputRange {
  readonly min: number;
  readonly max: number;
}

/**
 * What a value outside its input's training range gets: `reject` (a 400 naming the field),
 * `clip` (scored at the nearest bound, flagged in the capture) or `flag` (scored as sent,
 * flagged). The range is widened by `tolerance` times its width on each side, and a column that
 * was never negative in training may not be negative.
 */
export interface RangePolicy {
  readonly action: 'reject' | 'clip' | 'flag';
  readonly tolerance: number;
}

export interface RequestOptions {
  /** Fields accepted beside the model's inputs, captured but never scored. @default none */
  readonly extraFields?: readonly string[];
  /** Training ranges of numeric inputs, by name. @default none: any float32 is accepted */
  readonly ranges?: Readonly<Record<string, InputRange>>;
  /** @default flag, tolerance 1 */
  readonly rangePolicy?: RangePolicy;
}

// As the config's default: flag, for heavy tails pass their training maximum in ordinary traffic.
const DEFAULT_RANGE_POLICY: RangePolicy = { action: 'flag', tolerance: 1 };

/** The accepted interval of a numeric input: its training range widened by the policy's tolerance. */
export function acceptedInterval(range: InputRange, tolerance: number): { lower: number; upper: number } {
  const width = range.max - range.min || Math.max(Math.abs(range.max), 1);
  const lower = range.min >= 0 ? Math.max(0, range.min - tolerance * width) : range.min - tolerance * width;
  return { lower, upper: range.max + tolerance * width };
}

const show = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(6));

/**
 * Judges numeric inputs against their training ranges: issues (policy `reject`), or columns
 * clipped into range and the fields flagged per row (`clip`, `flag`).
 */
function judgeRanges(
  columns: Map<string, (number | string | null)[]>,
  rows: number,
  options: RequestOptions,
  pathOf: (name: string, row: number) => string,
): { issues: FieldIssue[]; outOfRange?: string[][] } {
  const ranges = options.ranges;
  if (!ranges) return { issues: [] };
  const policy = options.rangePolicy ?? DEFAULT_RANGE_POLICY;
  const issues: FieldIssue[] = [];
  let outOfRange: string[][] | undefined;
  for (const [name, values] of columns) {
    const range = ranges[name];
    if (!range) continue;
    const { lower, upper } = acceptedInterval(range, policy.tolerance);
    let clipped: (number | string | null)[] | undefined;
    for (let row = 0; row < rows; row++) {
      const v = values[row];
      if (typeof v !== 'number' || (v >= lower && v <= upper)) continue;
      if (policy.action === 'reject') {
        issues.push({
          path: pathOf(name, row),
          message: `${show(v)} is outside the accepted range [${show(lower)}, ${show(upper)}] (training saw ${show(range.min)} to ${show(range.max)})`,
        });
        continue;
      }
      outOfRange ??= Array.from({ length: rows }, () => []);
      (outOfRange[row] as string[]).push(name);
      if (policy.action === 'clip') {
        clipped ??= [...values];
        clipped[row] = Math.min(upper, Math.max(lower, v));
      }
    }
    if (clipped) columns.set(name, clipped);
  }
  return { issues, ...(outOfRange ? { outOfRange } : {}) };
}

function invalid(issues: FieldIssue[]): never {
  const listed = issues.slice(0, MAX_ISSUES);
  if (issues.length > MAX_ISSUES)
    listed.push({ path: '(more)', message: `${issues.length - MAX_ISSUES} more issue(s) not listed` });
  throw new ValidationError('The request is invalid', listed);
}

const FLOAT32_MESSAGE = `expected a number representable as float32 (magnitude at most ${FLOAT32_MAX.toPrecision(5)}) or null`;
const float32 = z.number().check(z.refine((v) => Math.abs(v) <= FLOAT32_MAX, FLOAT32_MESSAGE));
const category = z.string().check(z.maxLength(MAX_STRING_LENGTH));

/**
 * The schema of one instance of the plain JSON API: every model input, the declared extra
 * fields (a number, a string or null each), nothing else.
 */
export function instanceSchema(inputs: readonly ModelInput[], extraFields: readonly string[] = []) {
  const names = new Set(inputs.map((i) => i.name));
  return z.strictObject({
    ...Object.fromEntries(
      extraFields
        .filter((f) => !names.has(f))
        .map((f) => [f, z.optional(z.nullable(z.union([float32, category])))]),
    ),
    ...Object.fromEntries(
      inputs.map((i) => [
        i.name,
        // A protected attribute the model decides by (threshold post-processing) must be sent:
        // without it the row would get no group's rule.
        i.protected
          ? z
              .string({
                error: `the model decides by ${i.name} (its threshold per group): send it as a string`,
              })
              .check(
                z.minLength(1, `the model decides by ${i.name}: it must not be empty`),
                z.maxLength(MAX_STRING_LENGTH),
              )
          : z.nullable(i.type === 'numeric' ? float32 : category),
      ]),
    ),
  });
}

/** `{"instances": [...], "parameters"?: {...}}` with 1..maxBatch instances. */
export function v1RequestSchema(
  inputs: readonly ModelInput[],
  maxBatch: number,
  extraFields: readonly string[] = [],
) {
  return z.strictObject({
    instances: z
      .array(instanceSchema(inputs, extraFields))
      .check(z.minLength(1), z.maxLength(maxBatch, `at most ${maxBatch} instances per request`)),
    parameters: z.optional(z.record(z.string(), z.unknown())),
  });
}

// Building a zod schema costs far more than using one: one per (inputs, batch limit, extras), kept.
const v1Schemas = new WeakMap<readonly ModelInput[], Map<string, ReturnType<typeof v1RequestSchema>>>();

function cachedV1Schema(inputs: readonly ModelInput[], maxBatch: number, extraFields: readonly string[]) {
  let byKey = v1Schemas.get(inputs);
  if (!byKey) {
    byKey = new Map();
    v1Schemas.set(inputs, byKey);
  }
  const key = `${maxBatch}|${extraFields.join(',')}`;
  let schema = byKey.get(key);
  if (!schema) {
    schema = v1RequestSchema(inputs, maxBatch, extraFields);
    byKey.set(key, schema);
  }
  return schema;
}

/**
 * Range issues of a request that also failed its schema: every bad field is named in one 400,
 * not the schema's first and the ranges' after a second try. Only the numbers that are numbers.
 */
function rangeIssuesOfRaw(
  body: unknown,
  inputs: readonly ModelInput[],
  options: RequestOptions,
): FieldIssue[] {
  const instances = (body as { instances?: unknown } | null)?.instances;
  if (!Array.isArray(instances) || (options.rangePolicy?.action ?? DEFAULT_RANGE_POLICY.action) !== 'reject')
    return [];
  const columns = new Map<string, (number | string | null)[]>();
  for (const input of inputs) {
    if (input.type !== 'numeric') continue;
    columns.set(
      input.name,
      instances.map((row) => {
        const v = (row as Record<string, unknown> | null)?.[input.name];
        return typeof v === 'number' && Math.abs(v) <= FLOAT32_MAX ? v : null;
      }),
    );
  }
  return judgeRanges(columns, instances.length, options, (name, row) => `instances.${row}.${name}`).issues;
}

/** The declared extra fields the model does not take. */
function extrasOf(inputs: readonly ModelInput[], options: RequestOptions): string[] {
  const names = new Set(inputs.map((i) => i.name));
  return (options.extraFields ?? []).filter((f) => !names.has(f));
}

export function parseV1(
  body: unknown,
  inputs: readonly ModelInput[],
  maxBatch: number,
  options: RequestOptions = {},
): Columns {
  const extraFields = extrasOf(inputs, options);
  const parsed = cachedV1Schema(inputs, maxBatch, extraFields).safeParse(body);
  if (!parsed.success)
    invalid([...ValidationError.issuesOf(parsed.error), ...rangeIssuesOfRaw(body, inputs, options)]);
  const instances = parsed.data.instances as Record<string, number | string | null>[];
  const columns = new Map(inputs.map((i) => [i.name, instances.map((row) => row[i.name] ?? null)]));
  const judged = judgeRanges(columns, instances.length, options, (name, row) => `instances.${row}.${name}`);
  const issues = [...judged.issues];
  const explain = explainOf(parsed.data.parameters, issues);
  if (issues.length > 0) invalid(issues);
  const present = extraFields.filter((f) => instances.some((row) => row[f] !== undefined));
  return {
    rows: instances.length,
    columns,
    ...(present.length > 0
      ? { extras: new Map(present.map((f) => [f, instances.map((row) => row[f] ?? null)])) }
      : {}),
    ...(judged.outOfRange ? { outOfRange: judged.outOfRange } : {}),
    ...explain,
  };
}

const NUMERIC_TYPES = [
  'FP16',
  'FP32',
  'FP64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
];
const DATATYPES = [...NUMERIC_TYPES, 'BYTES', 'BOOL'] as const;

const parameters = () => z.optional(z.record(z.string(), z.unknown()));
const tensorSchema = z.strictObject({
  name: z.string().check(z.minLength(1), z.maxLength(256)),
  shape: z.array(z.int().check(z.nonnegative())).check(z.minLength(1), z.maxLength(2)),
  datatype: z.enum(DATATYPES),
  data: z.array(z.union([z.number(), z.string(), z.boolean(), z.null()])),
  parameters: parameters(),
});

/** Open Inference Protocol v2 request body. */
export const v2RequestSchema = z.strictObject({
  id: z.optional(z.string().check(z.maxLength(256))),
  parameters: parameters(),
  inputs: z.array(tensorSchema).check(z.minLength(1), z.maxLength(1000)),
  outputs: z.optional(z.array(z.object({ name: z.string(), parameters: parameters() }))),
});

export type V2Request = z.output<typeof v2RequestSchema>;

/** Validates an OIP v2 request against the model's inputs: one `[N]` or `[N,1]` tensor per input. */
export function parseV2(
  body: unknown,
  inputs: readonly ModelInput[],
  maxBatch: number,
  options: RequestOptions = {},
): Columns & { id?: string } {
  const parsed = v2RequestSchema.safeParse(body);
  if (!parsed.success) invalid(ValidationError.issuesOf(parsed.error));
  const request = parsed.data;
  const extraFields = extrasOf(inputs, options);
  const issues: FieldIssue[] = [];
  const byName = new Map<string, (typeof request.inputs)[number]>();
  const extras = new Map<string, (number | string | null)[]>();
  request.inputs.forEach((t, k) => {
    if (byName.has(t.name))
      issues.push({ path: `inputs.${k}.name`, message: `tensor ${t.name} given twice` });
    else byName.set(t.name, t);
    if (extraFields.includes(t.name)) {
      const bad = t.data.findIndex(
        (v) =>
          !(
            v === null ||
            (typeof v === 'number' && Math.abs(v) <= FLOAT32_MAX) ||
            (typeof v === 'string' && v.length <= MAX_STRING_LENGTH)
          ),
      );
      if (bad >= 0)
        issues.push({ path: `inputs.${k}.data.${bad}`, message: 'expected a number, a string or null' });
      extras.set(t.name, t.data as (number | string | null)[]);
    } else if (!inputs.some((i) => i.name === t.name))
      issues.push({
        path: `inputs.${k}.name`,
        message: `the model has no input ${t.name}${extraFields.length > 0 ? ` (extra fields accepted: ${extraFields.join(', ')})` : ''}`,
      });
  });
  let rows: number | undefined;
  const columns = new Map<string, (number | string | null)[]>();
  for (const input of inputs) {
    const k = request.inputs.findIndex((t) => t.name === input.name);
    const tensor = request.inputs[k];
    if (tensor === undefined) {
      issues.push({ path: 'inputs', message: `missing tensor ${input.name}` });
      continue;
    }
    const path = `inputs.${k}`;
    const [n, width] = tensor.shape as [number, number | undefined];
    if (width !== undefined && width !== 1)
      issues.push({
        path: `${path}.shape`,
        message: `expected [N] or [N, 1], got [${tensor.shape.join(', ')}]`,
      });
    if (tensor.data.length !== n)
      issues.push({
        path: `${path}.data`,
        message: `shape says ${n} values, data has ${tensor.data.length}`,
      });
    if (rows === undefined) rows = n;
    else if (n !== rows)
      issues.push({ path: `${path}.shape`, message: `${n} rows, other inputs have ${rows}` });
    const numeric = input.type === 'numeric';
    if (numeric ? !NUMERIC_TYPES.includes(tensor.datatype) : tensor.datatype !== 'BYTES')
      issues.push({
        path: `${path}.datatype`,
        message: `${input.name} is ${numeric ? 'numeric: use FP32, FP64 or an integer type' : 'categorical: use BYTES'}, got ${tensor.datatype}`,
      });
    const bad = tensor.data.findIndex((v) =>
      v === null || (v === '' && !numeric)
        ? // A protected attribute the model decides by must be given (see instanceSchema).
          input.protected === true
        : numeric
          ? typeof v !== 'number' || !(Math.abs(v) <= FLOAT32_MAX)
          : typeof v !== 'string' || v.length > MAX_STRING_LENGTH,
    );
    if (bad >= 0)
      issues.push({
        path: `${path}.data.${bad}`,
        message: input.protected
          ? `the model decides by ${input.name} (its threshold per group): send it as a string`
          : numeric
            ? FLOAT32_MESSAGE
            : `expected a string of at most ${MAX_STRING_LENGTH} characters or null`,
      });
    columns.set(input.name, tensor.data as (number | string | null)[]);
  }
  if (rows !== undefined && rows > maxBatch)
    issues.push({ path: 'inputs', message: `at most ${maxBatch} rows per request, got ${rows}` });
  if (rows === 0) issues.push({ path: 'inputs', message: 'no rows' });
  for (const [name, values] of extras)
    if (rows !== undefined && values.length !== rows)
      issues.push({
        path: 'inputs',
        message: `${name} has ${values.length} values, the inputs have ${rows} rows`,
      });
  const n = rows ?? 0;
  const index = new Map(request.inputs.map((t, k) => [t.name, k]));
  const judged = judgeRanges(columns, n, options, (name, row) => `inputs.${index.get(name)}.data.${row}`);
  // One 400 names every bad field; a value already refused as not float32 is not named twice.
  const named = new Set(issues.map((i) => i.path));
  const all = [...issues, ...judged.issues.filter((i) => !named.has(i.path))];
  const explain = explainOf(request.parameters, all);
  if (all.length > 0) invalid(all);
  return {
    rows: n,
    columns,
    ...(extras.size > 0 ? { extras } : {}),
    ...(judged.outOfRange ? { outOfRange: judged.outOfRange } : {}),
    ...(request.id ? { id: request.id } : {}),
    ...explain,
  };
}

/** `POST /v1/feedback`: the observed outcome of an earlier prediction. */
export const feedbackSchema = z.strictObject({
  prediction_id: z.string().check(z.minLength(1), z.maxLength(128)),
  outcome: z.union([z.literal(0), z.literal(1)], {
    error: 'expected 0 or 1 (1: the outcome the model predicts happened)',
  }),
  observed_at: z.optional(z.iso.datetime({ offset: true })),
});

export type Feedback = z.output<typeof feedbackSchema>;

export function parseFeedback(body: unknown): Feedback {
  const parsed = feedbackSchema.safeParse(body);
  if (!parsed.success) invalid(ValidationError.issuesOf(parsed.error));
  return parsed.data;
}
