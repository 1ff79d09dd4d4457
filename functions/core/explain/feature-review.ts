/**
 * The stale-feature review: does each raw column still earn its place in the model?
 *
 * **What is compared.** A column's permutation importance (AUC drop) on the training holdout,
 * recorded when the model was trained, against the same measure on recent labelled production
 * decisions, scored by the same model. Permutation importance on labelled rows is the measure
 * that moves when a column stops predicting the outcome: the model still reads it (its mean
 * |SHAP|, also reported, does not fall), but shuffling it no longer costs any AUC. Each estimate
 * carries a standard error: DeLong's variance of the paired AUC difference (the rows' noise)
 * plus the shuffles' spread over the repeats; a test checks it against the spread of estimates
 * over fresh samples.
 *
 * **Stale** (the column mattered and does not any more): its training importance reached the
 * `floor`, and now either its production importance is below the floor with confidence (the
 * upper end of its one-sided interval), or it fell by more than `share` of its training value
 * with confidence (both sides' errors counted). Every column is tested at once, so the
 * intervals are Bonferroni-corrected: ten columns reviewed daily must not make a false flag
 * likely. When the production rows are too few for the interval to reach below the floor at
 * all, the column is *inconclusive*, never stale by noise.
 *
 * **Unstable** (the relationship changed): the column's contribution weighs differently in the
 * outcomes now than in the model: b_j in y ~ a + Σ b_j φ_j (the drift attribution's outcome
 * side), away from 1 with confidence by a material effect (below 0: its sign flipped), or the
 * outcomes bend along its contribution ({@link outcomeShapes}: its partial dependence changed
 * shape); and its importance moved with confidence too. The weights of related columns'
 * contributions (debt and debt-to-income) trade off against each other by chance, so a weight
 * alone flagged a column whose relationship had not changed; requiring the importance to move
 * as well removed it.
 *
 * **Costly / personal data** for little importance: a column with a declared cost per decision
 * whose saving (the change in decision costs when it is shuffled, upper end of its interval) is
 * below that cost; a column declared to carry personal data whose importance is below
 * `personalDataFloor` with confidence.
 */
import normalQuantile from '@stdlib/stats-base-dists-normal-quantile';
import { matrix } from '../linalg.ts';
import { fitLogistic, logisticStandardErrors } from '../models/logistic.ts';
import type { OutcomeWeight } from './drift-attribution.ts';
import type { Explanation } from './explainer.ts';
import type { PermutationImportance } from './importance.ts';

/** A model's permutation importance on labelled rows, as recorded (at training, and by each review). */
export interface ImportanceSummary {
  readonly rows: number;
  readonly repeats: number;
  readonly baselineAuc: number;
  readonly columns: readonly {
    readonly column: string;
    readonly aucDrop: number;
    readonly se: number;
    /** Saving per decision when the column is known (currency of the costs), when priced. */
    readonly saving?: { readonly mean: number; readonly se: number };
  }[];
}

export function importanceSummary(
  result: { readonly baseline: number; readonly columns: readonly PermutationImportance[] },
  rows: number,
  repeats: number,
): ImportanceSummary {
  return {
    rows,
    repeats,
    baselineAuc: result.baseline,
    columns: result.columns.map((c) => ({
      column: c.column,
      aucDrop: c.mean,
      se: c.se,
      ...(c.saving ? { saving: c.saving } : {}),
    })),
  };
}

/** Mean |SHAP| per column with its standard error over the explained rows. */
export function meanAbsShapWithError(
  explanation: Explanation,
): Map<string, { readonly mean: number; readonly se: number }> {
  const out = new Map<string, { mean: number; se: number }>();
  const rows = explanation.rows;
  const n = rows.length;
  for (const column of Object.keys(rows[0]?.contributions ?? {})) {
    let sum = 0;
    for (const r of rows) sum += Math.abs(r.contributions[column] ?? 0);
    const mean = n > 0 ? sum / n : 0;
    let v = 0;
    for (const r of rows) v += (Math.abs(r.contributions[column] ?? 0) - mean) ** 2;
    out.set(column, { mean, se: n > 1 ? Math.sqrt(v / (n - 1) / n) : 0 });
  }
  return out;
}

/** How far a column's relationship with the outcome bends away from the model's (see {@link outcomeShapes}). */
export interface OutcomeShape {
  readonly column: string;
  /** c_j: the outcomes' curvature in the column's contribution (0 when the model's shape holds). */
  readonly curvature: number;
  readonly interval: { readonly lower: number; readonly upper: number };
  /** Beyond 0 with every column tested at once (Bonferroni), by a material effect. */
  readonly changed: boolean;
}

/**
 * The residual log-odds per sd of the bend term below which no change of shape is reported. Twice
 * the drift check's materiality for weights: with the model's shape intact, the fitted bend came
 * out biased from 0 by about a third of its spread (40 seeds of 6,000 rows), and at 0.05 one seed
 * in eight was flagged; at 0.1 none was, and a saturating effect still is.
 */
const MATERIAL_BEND = 0.1;

/**
 * The shape side of "the relationship changed": with every column's contribution φ_j and its
 * centred square s_j, y ~ a + Σ b_j φ_j + Σ c_j s_j. The model's own shape, whatever it is, makes
 * every c_j ≈ 0 (its partial dependence is in φ_j already); a relationship that now saturates,
 * or turns, bends the outcomes in φ_j: c_j away from 0. Fitted jointly, so a column is not blamed
 * for another's change as a per-column residual plot would.
 */
export function outcomeShapes(
  explanation: Explanation,
  outcomes: ArrayLike<number>,
  names: readonly string[],
  confidence = 0.95,
): OutcomeShape[] {
  const n = explanation.rows.length;
  const d = names.length;
  const phi = names.map((name) => Float64Array.from(explanation.rows, (r) => r.contributions[name] ?? 0));
  const squares = phi.map((v) => {
    let m = 0;
    for (const x of v) m += x / n;
    const sq = Float64Array.from(v, (x) => Math.abs(x - m));
    let ms = 0;
    for (const x of sq) ms += x / n;
    return sq.map((x) => x - ms);
  });
  // A contribution with two values has a square that is linear in it: no shape to test, and a
  // collinear column would spoil every other standard error of the fit.
  const bends = names.map((_, j) => new Set(phi[j]).size > 2);
  const tested = squares.filter((_, j) => bends[j]);
  const columns = [...phi, ...tested];
  const width = d + tested.length;
  const data = new Float64Array(n * width);
  for (let i = 0; i < n; i++) for (let j = 0; j < width; j++) data[i * width + j] = columns[j]?.[i] as number;
  const x = matrix(n, width, data);
  // Barely regularised: estimates, not a model to ship.
  const fit = fitLogistic(x, outcomes, { C: 1e6 });
  const errors = logisticStandardErrors(fit, x);
  const z = normalQuantile(1 - (1 - confidence) / (2 * Math.max(1, tested.length)), 0, 1);
  const z95 = normalQuantile(1 - (1 - confidence) / 2, 0, 1);
  const at = names.map((_, j) => d + bends.slice(0, j).filter(Boolean).length);
  return names.map((column, j) => {
    if (!bends[j]) return { column, curvature: 0, interval: { lower: 0, upper: 0 }, changed: false };
    const c = fit.coefficients[at[j] as number] as number;
    const se = errors[at[j] as number] as number;
    let v = 0;
    for (const s2 of squares[j] as Float64Array) v += s2 * s2;
    const sd = Math.sqrt(v / Math.max(1, n - 1));
    return {
      column,
      curvature: c,
      interval: { lower: c - z95 * se, upper: c + z95 * se },
      changed: Math.abs(c) > z * se && Math.abs(c) * sd >= MATERIAL_BEND,
    };
  });
}

export interface FeatureReviewPolicy {
  /** The AUC drop a column must be worth. @default 0.005 */
  readonly floor?: number;
  /** The share of its training importance whose loss makes a column stale. @default 0.5 */
  readonly share?: number;
  /** One-sided confidence, for all columns together (Bonferroni). @default 0.95 */
  readonly confidence?: number;
  /** The AUC drop a column with personal data must be worth. @default 0.01 */
  readonly personalDataFloor?: number;
  /**
   * The mean |SHAP| (log-odds) a column's contribution needs for its outcome weight and shape to
   * be judged (unstable). @default 0.06
   */
  readonly weightFloor?: number;
  /** What each column costs per decision (the costs' currency) and whether it carries personal data. */
  readonly features?: Readonly<
    Record<string, { readonly costPerDecision?: number; readonly personalData?: boolean }>
  >;
}

export type FeatureStatus = 'stale' | 'unstable' | 'inconclusive' | 'weak' | 'ok';
export type FeatureFlag = 'stale' | 'unstable' | 'costly' | 'personal-data';

export interface FeatureFinding {
  readonly column: string;
  readonly status: FeatureStatus;
  /** What the review asks a person to look at; empty when nothing. */
  readonly flags: readonly FeatureFlag[];
  readonly training: { readonly aucDrop: number; readonly se: number; readonly meanAbsShap?: number };
  readonly production: {
    readonly aucDrop: number;
    readonly se: number;
    /** The upper end of the one-sided (Bonferroni) interval. */
    readonly upper: number;
    readonly meanAbsShap?: number;
    readonly saving?: { readonly mean: number; readonly upper: number };
  };
  /** production − training, with a two-sided interval at the review's confidence. */
  readonly change: { readonly value: number; readonly lower: number; readonly upper: number };
  /** Its contribution's weight in the production outcomes (1: as in the model). */
  readonly weight?: { readonly value: number; readonly lower: number; readonly upper: number };
  /** The outcomes' curvature along its contribution (0: the model's shape holds). */
  readonly shape?: { readonly curvature: number; readonly lower: number; readonly upper: number };
  readonly reasons: readonly string[];
}

export interface FeatureReview {
  readonly rows: { readonly training: number; readonly production: number };
  readonly auc: { readonly training: number; readonly production: number };
  readonly policy: Required<Omit<FeatureReviewPolicy, 'features'>> & {
    readonly features: NonNullable<FeatureReviewPolicy['features']>;
  };
  /** The one-sided z every column's interval uses (Bonferroni over the columns). */
  readonly z: number;
  /** By training importance, largest first. */
  readonly features: readonly FeatureFinding[];
  /** Columns with any flag. */
  readonly flagged: readonly string[];
  readonly stale: readonly string[];
  readonly summary: string;
}

const fixed = (v: number, digits = 4) => v.toFixed(digits);

/**
 * Judges each column of `production` against `training` (see the module's header).
 * `shap` and `weights` add the model's reliance and the outcome side when given.
 */
export function reviewFeatures(
  input: {
    readonly training: ImportanceSummary;
    readonly production: ImportanceSummary;
    readonly shap?: {
      readonly training: ReadonlyMap<string, { readonly mean: number }>;
      readonly production: ReadonlyMap<string, { readonly mean: number }>;
    };
    readonly weights?: readonly OutcomeWeight[] | null;
    readonly shapes?: readonly OutcomeShape[] | null;
  },
  options: FeatureReviewPolicy = {},
): FeatureReview {
  const policy = {
    floor: options.floor ?? 0.005,
    share: options.share ?? 0.5,
    confidence: options.confidence ?? 0.95,
    personalDataFloor: options.personalDataFloor ?? 0.01,
    weightFloor: options.weightFloor ?? 0.06,
    features: options.features ?? {},
  };
  if (!(policy.floor >= 0)) throw new RangeError(`floor must be at least 0, got ${policy.floor}`);
  if (!(policy.share > 0 && policy.share <= 1))
    throw new RangeError(`share must be in (0, 1], got ${policy.share}`);
  if (!(policy.confidence > 0.5 && policy.confidence < 1))
    throw new RangeError(`confidence must be in (0.5, 1), got ${policy.confidence}`);
  const trained = new Map(input.training.columns.map((c) => [c.column, c]));
  const columns = input.production.columns.filter((c) => trained.has(c.column));
  const k = Math.max(1, columns.length);
  const z = normalQuantile(1 - (1 - policy.confidence) / k, 0, 1);
  const zTwoSided = normalQuantile(1 - (1 - policy.confidence) / (2 * k), 0, 1);
  const weights = new Map((input.weights ?? []).map((w) => [w.column, w]));
  const shapes = new Map((input.shapes ?? []).map((c) => [c.column, c]));

  const features = columns.map((p): FeatureFinding => {
    const t = trained.get(p.column) as ImportanceSummary['columns'][number];
    const upper = p.aucDrop + z * p.se;
    const changeSe = Math.hypot(t.se, p.se);
    const change = p.aucDrop - t.aucDrop;
    const keep = 1 - policy.share;
    const fellByShare = keep * t.aucDrop - p.aucDrop > z * Math.hypot(keep * t.se, p.se);
    const mattered = t.aucDrop >= policy.floor;
    const belowFloor = upper < policy.floor;
    const resolvable = z * p.se < policy.floor;
    const reasons: string[] = [];
    const flags: FeatureFlag[] = [];
    let status: FeatureStatus = 'ok';
    if (mattered && (belowFloor || fellByShare)) {
      status = 'stale';
      flags.push('stale');
      reasons.push(
        belowFloor
          ? `AUC drop ${fixed(t.aucDrop)} at training, now at most ${fixed(upper)}: below the floor of ${policy.floor}`
          : `AUC drop fell from ${fixed(t.aucDrop)} to ${fixed(p.aucDrop)}, by more than ${Math.round(policy.share * 100)} % with confidence`,
      );
    } else if (mattered && !resolvable && p.aucDrop < policy.floor) status = 'inconclusive';
    else if (!mattered) status = 'weak';
    if (status === 'inconclusive')
      reasons.push(
        `${input.production.rows} labelled rows cannot tell: the interval (±${fixed(z * p.se)}) is wider than the floor`,
      );
    const w = weights.get(p.column);
    // A changed weight alone is not enough: contributions of related columns (debt and
    // debt-to-income) share the outcomes between them, and their weights move together by
    // chance; a relationship that changed what the column is worth moves its importance too.
    const importanceMoved = Math.abs(change) > zTwoSided * changeSe;
    const shape = shapes.get(p.column);
    // A contribution that barely moves the log-odds has a weight that says little, and when its
    // column also feeds a derived feature (debt → debt_to_income) the two weights trade off: under
    // covariate drift, which changes no relationship, debt's came out ×−1.6 "significantly".
    const reliance = input.shap?.production.get(p.column)?.mean;
    const judged = reliance === undefined || reliance >= policy.weightFloor;
    if (judged && (w?.changed || shape?.changed) && importanceMoved && status !== 'stale') {
      status = 'unstable';
      flags.push('unstable');
      if (w?.changed)
        reasons.push(
          w.interval.upper < 0
            ? `its sign flipped: its contributions weigh ×${w.weight.toFixed(2)} in the outcomes (interval ${w.interval.lower.toFixed(2)} to ${w.interval.upper.toFixed(2)})`
            : `its contributions weigh ×${w.weight.toFixed(2)} in the outcomes against the model's ×1`,
        );
      if (shape?.changed)
        reasons.push(
          `its relationship changed shape: the outcomes ${shape.curvature < 0 ? 'flatten' : 'steepen'} along its contributions (curvature ${shape.curvature.toFixed(3)}, interval ${shape.interval.lower.toFixed(3)} to ${shape.interval.upper.toFixed(3)})`,
        );
    }
    const declared = policy.features[p.column];
    const saving = p.saving ? { mean: p.saving.mean, upper: p.saving.mean + z * p.saving.se } : undefined;
    if (declared?.costPerDecision !== undefined && declared.costPerDecision > 0) {
      if (!saving) reasons.push('its cost is declared, but the review had no decision costs to price it');
      else if (saving.upper < declared.costPerDecision) {
        flags.push('costly');
        reasons.push(
          `costs ${declared.costPerDecision} per decision and saves at most ${saving.upper.toFixed(3)}`,
        );
      }
    }
    if (declared?.personalData && upper < policy.personalDataFloor) {
      flags.push('personal-data');
      reasons.push(
        `carries personal data and is worth at most ${fixed(upper)} AUC (the floor for personal data is ${policy.personalDataFloor})`,
      );
    }
    const shapTraining = input.shap?.training.get(p.column)?.mean;
    const shapProduction = input.shap?.production.get(p.column)?.mean;
    return {
      column: p.column,
      status,
      flags,
      training: {
        aucDrop: t.aucDrop,
        se: t.se,
        ...(shapTraining !== undefined ? { meanAbsShap: shapTraining } : {}),
      },
      production: {
        aucDrop: p.aucDrop,
        se: p.se,
        upper,
        ...(shapProduction !== undefined ? { meanAbsShap: shapProduction } : {}),
        ...(saving ? { saving } : {}),
      },
      change: {
        value: change,
        lower: change - zTwoSided * changeSe,
        upper: change + zTwoSided * changeSe,
      },
      ...(w ? { weight: { value: w.weight, lower: w.interval.lower, upper: w.interval.upper } } : {}),
      ...(shape ? { shape: { curvature: shape.curvature, ...shape.interval } } : {}),
      reasons,
    };
  });
  features.sort((a, b) => b.training.aucDrop - a.training.aucDrop);
  const flagged = features.filter((f) => f.flags.length > 0);
  const stale = features.filter((f) => f.status === 'stale').map((f) => f.column);
  const summary =
    flagged.length === 0
      ? `every column still earns its place (${input.production.rows} labelled decisions)`
      : flagged
          .map((f) => {
            const shap =
              f.status === 'stale' && f.production.meanAbsShap !== undefined
                ? ` though the model still moves its log-odds by ${f.production.meanAbsShap.toFixed(3)} on average`
                : '';
            return `${f.column} ${f.flags.join(', ')}: ${f.reasons[0] ?? ''}${shap}`;
          })
          .join('; ');
  return {
    rows: { training: input.training.rows, production: input.production.rows },
    auc: { training: input.training.baselineAuc, production: input.production.baselineAuc },
    policy,
    z,
    features,
    flagged: flagged.map((f) => f.column),
    stale,
    summary,
  };
}
