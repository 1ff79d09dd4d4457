/** The drift check's shapes: its request, the plan the steps share, the partials, the report. */
import type { MonitoringSettings } from '../contracts/monitoring.ts';
import type { Profile } from '../core/drift/profile.ts';
import type { DriftReport, FeatureDrift } from '../core/drift/report.ts';
import type { DriftAttribution } from '../core/explain/drift-attribution.ts';
import type { Impact } from '../core/monitoring/impact.ts';
import type { OutcomeMetrics } from '../core/monitoring/outcomes.ts';
import type { ArtifactRef, LineageStore } from '../lineage/store.ts';
import type { CapturePartitions, EventBus, MetricsSink } from '../ports/index.ts';
import type { PrivacyLedger } from '../registry/ledger.ts';
import type { ModelRegistry } from '../registry/registry.ts';

export interface MonitoringDependencies {
  readonly registry: ModelRegistry;
  readonly lineage: LineageStore;
  readonly captures: CapturePartitions;
  readonly eventBus: EventBus;
  readonly metrics: MetricsSink;
  /** The privacy ledgers a private check spends from. @default none: a private check fails */
  readonly ledger?: PrivacyLedger;
  /** @default the clock */
  readonly now?: () => Date;
}

export interface CheckRequest {
  readonly settings: MonitoringSettings;
  /** End of the window (ISO 8601). @default now */
  readonly asOf?: string;
}

export type Ref = Pick<ArtifactRef, 'kind' | 'sha256'>;
export const refOf = (r: ArtifactRef): Ref => ({ kind: r.kind, sha256: r.sha256 });

/** What the children and the reducer need: small enough for a state's payload. */
export interface CheckPlan {
  readonly settings: MonitoringSettings;
  readonly window: { readonly from: string; readonly to: string };
  /** The version checked; absent when no version is in production (nothing to check). */
  readonly production?: { readonly version: number; readonly baseline: Ref };
  /** Hour partitions (their start, ISO) holding predictions of the window. */
  readonly hours: readonly string[];
  /** Outcomes fed back for the window's predictions: `{ids, outcomes}` in lineage. */
  readonly outcomes?: Ref;
  readonly feedbackRecords: number;
  /** Distinct prediction ids with an outcome fed back in the window. */
  readonly outcomeIds?: number;
}

/** One child's share of the check, stored in lineage. */
export interface PartialCheck {
  readonly format: 'keel.drift-partial/v1';
  readonly predictions: number;
  readonly files: number;
  readonly inputs: Profile;
  readonly scores: Profile;
  /** The production version's scores counted over the outcome baseline's buckets (impact from drift). */
  readonly scoreCounts: readonly number[];
  /** [probability, decision, outcome, prediction time in ms] of each labelled prediction. */
  readonly labelled: readonly (readonly [number, 0 | 1, 0 | 1, number?])[];
  /** Predictions (any version or path) whose outcome came back: the rest of the outcomes name none. */
  readonly matched?: number;
  /** A bottom-k sample of whole rows (model inputs), for drift attribution. */
  readonly sample?: RowSample;
  /** The same of the production model's labelled decisions, with their outcomes. */
  readonly labelledSample?: RowSample & { readonly outcomes: readonly (0 | 1)[] };
}

/** Whole rows kept by the smallest row priorities, so partials merge into a uniform sample. */
export interface RowSample {
  readonly priorities: readonly number[];
  readonly rows: readonly Readonly<Record<string, number | string | null>>[];
}

/** Rows of the window explained for drift attribution, and labelled decisions for its outcome side. */
export const ATTRIBUTION_ROWS = 1000;
export const ATTRIBUTION_LABELLED_ROWS = 1000;

export type CheckStatus = 'ok' | 'warning' | 'alert' | 'no-data' | 'no-model';

export interface CheckReport {
  readonly format: 'keel.drift-report/v1';
  readonly model: string;
  readonly version: number | null;
  readonly checkedAt: string;
  readonly window: { readonly from: string; readonly to: string };
  readonly status: CheckStatus;
  /** Why the status is what it is, in words. */
  readonly reasons: readonly string[];
  readonly rows: { readonly predictions: number; readonly scored: number; readonly files: number };
  readonly drift: DriftReport | null;
  readonly predictionDrift: FeatureDrift | null;
  readonly outcomes:
    | (OutcomeMetrics & {
        readonly baseline: Record<string, number | null>;
        /**
         * Outcomes fed back in the window that name no prediction in it: unknown prediction ids,
         * or decisions made before the window.
         */
        readonly unmatched?: number;
      })
    | null;
  /** The estimate that decides: from outcomes when enough came back, else from drift. */
  readonly impact: Impact | null;
  /** Both estimates, when each can be made. */
  readonly impacts: { readonly outcomes: Impact | null; readonly drift: Impact | null };
  /**
   * Which columns moved the predictions and the money, and which explain the new residuals;
   * null with `attributionReason` when the version has no explainer (or nothing was flagged).
   */
  readonly attribution?: DriftAttribution | null;
  readonly attributionReason?: string;
  /**
   * A private check: every count above carries discrete Gaussian noise of scale `sigma`; the
   * spend (its ledger entry, and ε of the source after it), and what noise alone reads as PSI
   * per feature (median and 95th percentile over re-noisings of the released counts).
   */
  readonly privacy?: {
    readonly sigma: number;
    readonly histograms: number;
    readonly ledger: string;
    readonly entry: number;
    readonly epsilonAfter: number;
    readonly delta: number;
    readonly psiFromNoise: Readonly<Record<string, { readonly median: number; readonly p95: number }>>;
  };
  readonly currency: string;
  readonly thresholds: MonitoringSettings['thresholds'] & {
    readonly alertOn: MonitoringSettings['alerts']['on'];
    readonly minLabelledRows: number;
  };
}

/** The small answer of a check (the state machine's output, the CLI's summary). */
export interface CheckSummary {
  readonly model: string;
  readonly version: number | null;
  readonly status: CheckStatus;
  readonly reasons: readonly string[];
  readonly moneyAtRisk: number | null;
  readonly shareDrifted: number | null;
  readonly predictions: number;
  readonly report: ArtifactRef | null;
  readonly html: ArtifactRef | null;
  /** Whether a `keel.drift.detected` event was published (retraining starts). */
  readonly retrainingRequested: boolean;
}

export const HOUR_MS = 3_600_000;

/** Who the drift check is in the registry's audit log. */
export const MONITORING_ACTOR = 'keel-monitoring';
