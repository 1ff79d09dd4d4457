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
    | { readonly type: 'standardise'; readonly column: string }
    | { readonly type: 'log'; readonly column: string; readonly offset: number }
    | { readonly type: 'bucketise'; readonly column: string; readonly bins: number }
    | { readonly type: 'one-hot'; readonly column: string; readonly maxCategories: number }
    | {
        readonly type: 'ratio';
        readonly name: string;
        readonly numerator: string;
        readonly denominator: string;
      }
  );
