/**
 * Prediction requests, validated against the model's input schema: the plain JSON API
 * (`{"instances": [{feature: value}]}`) and the Open Inference Protocol v2 (one tensor per
 * feature). Both become the same columns for the scorer; every bad field is reported at once.
 */
import { z } from 'zod';
import { type FieldIssue, ValidationError } from '../commons/errors.ts';
import type { ModelInput } from '../core/onnx/runtime.ts';

/** Longest categorical value accepted: categories are short labels, not documents. */
export const MAX_STRING_LENGTH = 1024;
/** Issues listed in one error response; the rest are counted. */
export const MAX_ISSUES = 100;

export interface Columns {
  readonly columns: ReadonlyMap<string, readonly (number | string | null)[]>;
  readonly rows: number;
}

function invalid(issues: FieldIssue[]): never {
  const listed = issues.slice(0, MAX_ISSUES);
  if (issues.length > MAX_ISSUES)
    listed.push({ path: '(more)', message: `${issues.length - MAX_ISSUES} more issue(s) not listed` });
  throw new ValidationError('The request is invalid', listed);
}

function zodIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}

/** The schema of one instance of the plain JSON API: every model input, nothing else. */
export function instanceSchema(inputs: readonly ModelInput[]) {
  return z.strictObject(
    Object.fromEntries(
      inputs.map((i) => [
        i.name,
        i.type === 'numeric' ? z.number().finite().nullable() : z.string().max(MAX_STRING_LENGTH).nullable(),
      ]),
    ),
  );
}

/** `{"instances": [...], "parameters"?: {...}}` with 1..maxBatch instances. */
export function v1RequestSchema(inputs: readonly ModelInput[], maxBatch: number) {
  return z.strictObject({
    instances: z
      .array(instanceSchema(inputs))
      .min(1)
      .max(maxBatch, `at most ${maxBatch} instances per request`),
    parameters: z.record(z.string(), z.unknown()).optional(),
  });
}

// Building a zod schema costs far more than using one: one per (inputs, batch limit), kept.
const v1Schemas = new WeakMap<readonly ModelInput[], Map<number, ReturnType<typeof v1RequestSchema>>>();

function cachedV1Schema(inputs: readonly ModelInput[], maxBatch: number) {
  let byBatch = v1Schemas.get(inputs);
  if (!byBatch) {
    byBatch = new Map();
    v1Schemas.set(inputs, byBatch);
  }
  let schema = byBatch.get(maxBatch);
  if (!schema) {
    schema = v1RequestSchema(inputs, maxBatch);
    byBatch.set(maxBatch, schema);
  }
  return schema;
}

export function parseV1(body: unknown, inputs: readonly ModelInput[], maxBatch: number): Columns {
  const parsed = cachedV1Schema(inputs, maxBatch).safeParse(body);
  if (!parsed.success) invalid(zodIssues(parsed.error));
  const instances = parsed.data.instances as Record<string, number | string | null>[];
  return {
    rows: instances.length,
    columns: new Map(inputs.map((i) => [i.name, instances.map((row) => row[i.name] ?? null)])),
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

const tensorSchema = z.strictObject({
  name: z.string().min(1).max(256),
  shape: z.array(z.number().int().nonnegative()).min(1).max(2),
  datatype: z.enum(DATATYPES),
  data: z.array(z.union([z.number(), z.string(), z.boolean(), z.null()])),
  parameters: z.record(z.string(), z.unknown()).optional(),
});

/** Open Inference Protocol v2 request body. */
export const v2RequestSchema = z.strictObject({
  id: z.string().max(256).optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  inputs: z.array(tensorSchema).min(1).max(1000),
  outputs: z
    .array(z.object({ name: z.string(), parameters: z.record(z.string(), z.unknown()).optional() }))
    .optional(),
});

export type V2Request = z.output<typeof v2RequestSchema>;

/** Validates an OIP v2 request against the model's inputs: one `[N]` or `[N,1]` tensor per input. */
export function parseV2(
  body: unknown,
  inputs: readonly ModelInput[],
  maxBatch: number,
): Columns & { id?: string } {
  const parsed = v2RequestSchema.safeParse(body);
  if (!parsed.success) invalid(zodIssues(parsed.error));
  const request = parsed.data;
  const issues: FieldIssue[] = [];
  const byName = new Map<string, (typeof request.inputs)[number]>();
  request.inputs.forEach((t, k) => {
    if (byName.has(t.name))
      issues.push({ path: `inputs.${k}.name`, message: `tensor ${t.name} given twice` });
    else byName.set(t.name, t);
    if (!inputs.some((i) => i.name === t.name))
      issues.push({ path: `inputs.${k}.name`, message: `the model has no input ${t.name}` });
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
      v === null
        ? false
        : numeric
          ? typeof v !== 'number'
          : typeof v !== 'string' || v.length > MAX_STRING_LENGTH,
    );
    if (bad >= 0)
      issues.push({
        path: `${path}.data.${bad}`,
        message: numeric
          ? 'expected a number or null'
          : `expected a string of at most ${MAX_STRING_LENGTH} characters or null`,
      });
    columns.set(input.name, tensor.data as (number | string | null)[]);
  }
  if (rows !== undefined && rows > maxBatch)
    issues.push({ path: 'inputs', message: `at most ${maxBatch} rows per request, got ${rows}` });
  if (rows === 0) issues.push({ path: 'inputs', message: 'no rows' });
  if (issues.length > 0) invalid(issues);
  return { rows: rows ?? 0, columns, ...(request.id ? { id: request.id } : {}) };
}

/** `POST /v1/feedback`: the observed outcome of an earlier prediction. */
export const feedbackSchema = z.strictObject({
  prediction_id: z.string().min(1).max(128),
  outcome: z.union([z.literal(0), z.literal(1)]),
  observed_at: z.iso.datetime({ offset: true }).optional(),
});

export type Feedback = z.output<typeof feedbackSchema>;

export function parseFeedback(body: unknown): Feedback {
  const parsed = feedbackSchema.safeParse(body);
  if (!parsed.success) invalid(zodIssues(parsed.error));
  return parsed.data;
}
