/**
 * A small builder over the ONNX protobuf schema (onnx-proto): named constants, nodes with typed
 * attributes and unique value names. Only what Keel's exporter needs; the protobuf messages
 * themselves come from the library.
 */
import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;

/** TensorProto.DataType values used by Keel graphs. */
export const DataType = {
  FLOAT: 1,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  DOUBLE: 11,
} as const;

export type AttributeValue =
  | { readonly int: number }
  | { readonly ints: readonly number[] }
  | { readonly float: number }
  | { readonly string: string }
  | { readonly strings: readonly string[] }
  | { readonly tensor: onnxProto.onnx.ITensorProto };

const utf8 = new TextEncoder();

function attribute(name: string, value: AttributeValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('int' in value) return { name, type: T.INT, i: value.int };
  if ('ints' in value) return { name, type: T.INTS, ints: [...value.ints] };
  if ('float' in value) return { name, type: T.FLOAT, f: value.float };
  if ('string' in value) return { name, type: T.STRING, s: utf8.encode(value.string) };
  if ('strings' in value) return { name, type: T.STRINGS, strings: value.strings.map((s) => utf8.encode(s)) };
  return { name, type: T.TENSOR, t: value.tensor };
}

export function doubleTensor(values: ArrayLike<number>, dims: readonly number[], name?: string) {
  return {
    ...(name ? { name } : {}),
    dataType: DataType.DOUBLE,
    dims: [...dims],
    doubleData: Array.from(values),
  };
}

export function int64Tensor(values: ArrayLike<number>, dims: readonly number[], name?: string) {
  return {
    ...(name ? { name } : {}),
    dataType: DataType.INT64,
    dims: [...dims],
    int64Data: Array.from(values),
  };
}

export class GraphBuilder {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly used = new Set<string>();

  /** A value name not used before, derived from `hint`. */
  name(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_]/g, '_');
    let name = base;
    for (let k = 1; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }

  /** Reserves names the graph's inputs and outputs use. */
  reserve(name: string): string {
    this.used.add(name);
    return name;
  }

  double(values: ArrayLike<number>, dims: readonly number[], hint = 'const'): string {
    const name = this.name(hint);
    this.initializers.push(doubleTensor(values, dims, name));
    return name;
  }

  int64(values: ArrayLike<number>, dims: readonly number[], hint = 'const'): string {
    const name = this.name(hint);
    this.initializers.push(int64Tensor(values, dims, name));
    return name;
  }

  /** Adds a node and returns its (first) output name; `output` fixes that name. */
  node(
    opType: string,
    inputs: readonly string[],
    attributes: Readonly<Record<string, AttributeValue>> = {},
    options: { readonly domain?: string; readonly output?: string } = {},
  ): string {
    const output = options.output ?? this.name(opType.toLowerCase());
    this.nodes.push({
      opType,
      input: [...inputs],
      output: [output],
      name: this.name(`node_${opType}`),
      ...(options.domain ? { domain: options.domain } : {}),
      attribute: Object.entries(attributes).map(([k, v]) => attribute(k, v)),
    });
    return output;
  }
}

export function tensorValueInfo(
  name: string,
  elemType: number,
  dims: readonly (number | string)[],
): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}
