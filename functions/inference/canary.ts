/**
 * Prediction-distribution shift between model versions serving side by side (a canary and its
 * baseline): from the capture stream, the probabilities each version answered with are kept in
 * a window, and each version with enough of them is compared with all the others by PSI. The
 * rollout's `PredictionShift` alarm watches the result, so a canary whose scores move away from
 * the baseline's on the same traffic rolls back even when nothing errors.
 */
import { bucketCounts, psi, quantileEdges } from '../core/drift/statistics.ts';
import type { CaptureRecord } from './capture.ts';

export interface VersionShift {
  readonly model: string;
  readonly version: string;
  /** PSI of this version's probabilities against the other versions' (on their deciles). */
  readonly psi: number;
  readonly rows: number;
  readonly baselineRows: number;
}

export class VersionShiftMonitor {
  readonly #window: number;
  readonly #minRows: number;
  readonly #scores = new Map<string, Map<string, number[]>>();

  /**
   * @param options.window probabilities kept per version @default 5000
   * @param options.minRows fewest rows on each side before a comparison @default 100
   */
  constructor(options: { readonly window?: number; readonly minRows?: number } = {}) {
    this.#window = options.window ?? 5000;
    this.#minRows = options.minRows ?? 100;
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

  shifts(): VersionShift[] {
    const out: VersionShift[] = [];
    for (const [model, versions] of this.#scores) {
      if (versions.size < 2) continue;
      for (const [version, scores] of versions) {
        const others = [...versions].filter(([v]) => v !== version).flatMap(([, s]) => s);
        if (scores.length < this.#minRows || others.length < this.#minRows) continue;
        const edges = quantileEdges(others);
        out.push({
          model,
          version,
          psi: psi(bucketCounts(others, edges), bucketCounts(scores, edges)),
          rows: scores.length,
          baselineRows: others.length,
        });
      }
    }
    return out;
  }
}
