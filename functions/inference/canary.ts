/**
 * Prediction-distribution shift of model versions in serving (a canary and its baseline), from
 * the capture stream. The rollout's `PredictionShift` alarm watches the result, so a canary
 * whose scores move away from what was expected of it rolls back even when nothing errors.
 *
 * What is expected of a version is its own scores at evaluation: the score buckets of the
 * profile the retraining pipeline stored for it (on the production rows it was judged on, or
 * the holdout). Not the incumbent's scores: a retrained model that passed its gates scores
 * differently by design — two GBDTs of equal AUC trained a few thousand rows apart showed a PSI
 * of 0.18–0.19 against each other on the same traffic, and sampling noise on a canary's first
 * hundred rows carried that over the 0.25 threshold often enough to roll good candidates back.
 * Against its own evaluation, a version shifts when serving differs from evaluation: a feature
 * the live requests carry differently, a wrong artefact, traffic unlike what it was judged on.
 * A version without a stored profile (registered by hand) is compared with the other versions
 * serving beside it, as before.
 */

import type { CaptureRecord } from '../contracts/capture.ts';
import type { Profile } from '../core/drift/profile.ts';
import { bucketCounts, psi, quantileEdges } from '../core/drift/statistics.ts';
import { SCORE_COLUMN } from '../core/training/train.ts';
import { NotFoundError } from '../kernel/errors.ts';
import type { LineageStore } from '../lineage/store.ts';
import type { ModelRegistry } from '../registry/registry.ts';

export interface VersionShift {
  readonly model: string;
  readonly version: string;
  /** PSI of this version's probabilities against what is expected of them (on its buckets). */
  readonly psi: number;
  readonly rows: number;
  /** Rows behind the expectation: the version's evaluation profile, or the other versions' scores. */
  readonly baselineRows: number;
  /** What the version was compared with. */
  readonly against: 'evaluation' | 'versions';
}

/** A version's scores at evaluation: bucket edges and counts (the last count: NaN scores). */
export interface ScoreBaseline {
  readonly edges: readonly number[];
  readonly counts: readonly number[];
}

/** The score buckets of a stored profile, or undefined when it profiled no scores. */
export function scoreBaselineOf(profile: Profile): ScoreBaseline | undefined {
  const column = profile.columns[SCORE_COLUMN];
  if (column?.kind !== 'numeric' || column.n === 0) return undefined;
  return { edges: column.edges, counts: [...column.counts, column.missing] };
}

const key = (model: string, version: string) => `${model}\u0000${version}`;

export class VersionShiftMonitor {
  readonly #window: number;
  readonly #minRows: number;
  readonly #scores = new Map<string, Map<string, number[]>>();
  /** Per model and version: its baseline, null when it has none, absent while unknown. */
  readonly #baselines = new Map<string, ScoreBaseline | null>();

  /**
   * @param options.window probabilities kept per version @default 5000
   * @param options.minRows fewest rows of a version before it is compared: PSI's sampling bias
   *   is about (buckets − 1) / rows, 0.045 at 200 rows on 10 buckets, and a chance excursion
   *   to the 0.25 threshold there needs χ²₉ > 50 (p ≈ 1e-7; at 100 rows, p ≈ 0.005) @default 200
   */
  constructor(options: { readonly window?: number; readonly minRows?: number } = {}) {
    this.#window = options.window ?? 5000;
    this.#minRows = options.minRows ?? 200;
  }

  /** Takes the primary model's predictions (fallback and shadow answers say nothing about a version). */
  observe(records: readonly CaptureRecord[]): void {
    for (const r of records) {
      if (r.type !== 'prediction' || r.served_by !== 'primary') continue;
      const versions = this.#scores.get(r.model) ?? new Map<string, number[]>();
      this.#scores.set(r.model, versions);
      const list = versions.get(r.model_version) ?? [];
      versions.set(r.model_version, list);
      list.push(r.outputs.probability);
      if (list.length > this.#window) list.splice(0, list.length - this.#window);
    }
  }

  /** Records what is expected of a version (null: nothing stored; compare it with the others). */
  setBaseline(model: string, version: string, baseline: ScoreBaseline | null): void {
    this.#baselines.set(key(model, version), baseline);
  }

  /** Versions seen in serving whose baseline is not known yet: the caller resolves them. */
  unresolved(): { readonly model: string; readonly version: string }[] {
    return [...this.#scores].flatMap(([model, versions]) =>
      [...versions.keys()]
        .filter((version) => !this.#baselines.has(key(model, version)))
        .map((version) => ({ model, version })),
    );
  }

  /** One shift per version with enough rows and a known baseline (none while it is loading). */
  shifts(): VersionShift[] {
    const out: VersionShift[] = [];
    for (const [model, versions] of this.#scores) {
      for (const [version, scores] of versions) {
        if (scores.length < this.#minRows) continue;
        const baseline = this.#baselines.get(key(model, version));
        if (baseline === undefined) continue;
        if (baseline !== null) {
          out.push({
            model,
            version,
            psi: psi(baseline.counts, bucketCounts(scores, baseline.edges)),
            rows: scores.length,
            baselineRows: baseline.counts.reduce((s, c) => s + c, 0),
            against: 'evaluation',
          });
          continue;
        }
        const others = [...versions].filter(([v]) => v !== version).flatMap(([, s]) => s);
        if (others.length < this.#minRows) continue;
        const edges = quantileEdges(others);
        out.push({
          model,
          version,
          psi: psi(bucketCounts(others, edges), bucketCounts(scores, edges)),
          rows: scores.length,
          baselineRows: others.length,
          against: 'versions',
        });
      }
    }
    return out;
  }
}

const failedLookups = new WeakMap<VersionShiftMonitor, Map<string, number>>();

/** Lookups of one version's baseline that may fail (a throttled read) before it counts as none. */
export const BASELINE_ATTEMPTS = 3;

/**
 * Loads the baselines `monitor` lacks: each version's stored profile (registry tag `profile`,
 * the document in lineage). A version without one (or unknown to the registry) is marked as
 * having none, and so is one whose lookup failed {@link BASELINE_ATTEMPTS} times: it is then compared with the other
 * versions, rather than never.
 */
export async function resolveBaselines(
  monitor: VersionShiftMonitor,
  deps: { readonly registry: ModelRegistry; readonly lineage: LineageStore },
): Promise<void> {
  const failures = failedLookups.get(monitor) ?? new Map<string, number>();
  failedLookups.set(monitor, failures);
  await Promise.all(
    monitor.unresolved().map(async ({ model, version }) => {
      try {
        const sha256 = (await deps.registry.get(model, Number(version))).metadata.tags.profile;
        const profile = sha256
          ? await deps.lineage.getJson<Profile>({ kind: 'profiles', sha256 })
          : undefined;
        monitor.setBaseline(model, version, (profile && scoreBaselineOf(profile)) ?? null);
      } catch (error) {
        // No such version in the registry: nothing is expected of it; anything else may pass.
        if (error instanceof NotFoundError) {
          monitor.setBaseline(model, version, null);
          return;
        }
        const attempts = (failures.get(key(model, version)) ?? 0) + 1;
        failures.set(key(model, version), attempts);
        if (attempts >= BASELINE_ATTEMPTS) monitor.setBaseline(model, version, null);
      }
    }),
  );
}
