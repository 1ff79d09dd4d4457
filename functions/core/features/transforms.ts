/**
 * The feature-pipeline transforms core fits and compiles: core's own type, which the config
 * schema (`contracts/config/schema.ts`) validates user input into.
 */

/** Who owns a feature and the assumption it rests on: its provenance beyond the source columns. */
export interface Provenance {
  readonly owner?: string;
  readonly assumption?: string;
}

export type Transform = Provenance &
  (
    | {
        readonly type: 'impute';
        readonly column: string;
        readonly strategy: 'mean' | 'median' | 'constant';
        readonly value?: number | string;
      }
    | { readonly type: 'clip'; readonly column: string; readonly min?: number; readonly max?: number }
    | {
        readonly type: 'standardise';
        readonly column: string;
        /** Declared centre and scale (public); both or neither. @default learnt: the column's mean and standard deviation */
        readonly mean?: number;
        readonly scale?: number;
      }
    | { readonly type: 'log'; readonly column: string; readonly offset: number }
    | { readonly type: 'bucketise'; readonly column: string; readonly bins: number }
    | {
        readonly type: 'one-hot';
        readonly column: string;
        readonly maxCategories: number;
        /** The categories, declared rather than learnt from the data (most frequent `maxCategories`). */
        readonly categories?: string[];
      }
    | {
        readonly type: 'ratio';
        readonly name: string;
        readonly numerator: string;
        readonly denominator: string;
      }
  );

/** The raw or derived columns a transform reads. */
function sourcesOf(t: Transform): readonly string[] {
  return t.type === 'ratio' ? [t.numerator, t.denominator] : [t.column];
}

/**
 * A pipeline spec without `columns`: every transform reading one of them goes, and so does a
 * ratio built from one, with every transform of the ratio after it (a dropped column leaves no
 * feature behind that still carries it).
 */
export function withoutColumns(spec: readonly Transform[], columns: readonly string[]): Transform[] {
  const gone = new Set(columns);
  const kept: Transform[] = [];
  for (const t of spec) {
    if (sourcesOf(t).some((c) => gone.has(c))) {
      if (t.type === 'ratio') gone.add(t.name);
      continue;
    }
    kept.push(t);
  }
  return kept;
}

/**
 * What each transform would learn from the data it is fitted on (nothing for a clip with its
 * bounds, a log or a ratio): under differential privacy those statistics would leak the rows,
 * so they must be declared. Returns a message per transform that learns, by its index.
 */
export function dataFittedStatistics(spec: readonly Transform[]): { index: number; message: string }[] {
  return spec.flatMap((t, index) => {
    switch (t.type) {
      case 'impute':
        return t.strategy === 'constant'
          ? []
          : [
              {
                index,
                message: `imputes ${t.column} with its ${t.strategy}: declare strategy "constant" and a value`,
              },
            ];
      case 'one-hot':
        return t.categories
          ? []
          : [{ index, message: `learns ${t.column}'s categories from the data: declare "categories"` }];
      case 'standardise':
        return t.mean !== undefined && t.scale !== undefined
          ? []
          : [
              {
                index,
                message: `learns ${t.column}'s mean and spread from the data: declare "mean" and "scale"`,
              },
            ];
      case 'bucketise':
        return [{ index, message: `learns ${t.column}'s quantiles from the data` }];
      default:
        return [];
    }
  });
}
