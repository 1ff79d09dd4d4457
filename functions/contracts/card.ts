/**
 * A model card as Keel stores it (`keel.card/v1`, content-addressed in lineage, pointed at by
 * its version's `CardRecorded` event): `content`, the SageMaker Model Card schema's content
 * fields (`schemas/sagemaker-model-card-content.schema.json`), and `keel`, what that schema
 * has no place for. The registry writes cards; reports render them; serving reads them.
 */
import type { EvaluationReport } from '../core/evaluation/report.ts';
import type { FittedPipeline } from '../core/features/pipeline.ts';
import type { VersionMetadata } from './registry.ts';
import type { ParetoRow } from './retraining.ts';

export const CARD_FORMAT = 'keel.card/v1';

export type CardMetric = {
  name: string;
  type: string;
  value: unknown;
  notes?: string;
  x_axis_name?: unknown;
  y_axis_name?: unknown;
};

/** The SageMaker Model Card content fields (see the schema for each one's meaning). */
export interface CardContent {
  readonly model_overview: Record<string, unknown>;
  readonly intended_uses: Record<string, unknown>;
  readonly business_details: Record<string, unknown>;
  readonly training_details: Record<string, unknown>;
  readonly evaluation_details: readonly {
    name: string;
    evaluation_observation?: string;
    datasets?: string[];
    metadata?: Record<string, string>;
    metric_groups?: { name: string; metric_data: CardMetric[] }[];
  }[];
  readonly additional_information: {
    ethical_considerations?: string;
    caveats_and_recommendations?: string;
    custom_details?: Record<string, string>;
  };
}

export interface ModelCard {
  readonly format: typeof CARD_FORMAT;
  readonly model: string;
  readonly version: number;
  readonly generatedAt: string;
  readonly trigger: string;
  readonly content: CardContent;
  readonly keel: {
    readonly status: string;
    readonly aliases: readonly string[];
    readonly inputs: readonly { name: string; type: string; protected: boolean; pii: boolean }[];
    readonly features: FittedPipeline['features'] | null;
    readonly evaluation: {
      readonly holdout: EvaluationReport | null;
      readonly production: EvaluationReport | null;
      /** Why there is no evaluation, when there is none. */
      readonly missing: string | null;
    };
    readonly mitigation: VersionMetadata['mitigation'] | null;
    readonly mitigations: readonly ParetoRow[] | null;
    readonly knownBiases: readonly string[];
    readonly topFeatures: readonly { column: string; aucDrop: number; std: number }[] | null;
    readonly driftHistory: readonly { at: string; reason: string; metrics: Record<string, number> }[];
    readonly approvals: readonly { at: string; actor: string; reason: string; status: string }[];
    readonly deployments: readonly { at: string; actor: string; reason: string; event: string }[];
    /** What differentially private training spent; null when none was applied. */
    readonly privacy: VersionMetadata['privacy'] | null;
    /** The latest stale-feature review of this version (its audit-log record); null before any. */
    readonly featureReview: {
      readonly at: string;
      readonly asOf: string;
      readonly rows: number;
      readonly flagged: Readonly<Record<string, readonly string[]>>;
      readonly summary: string;
      readonly uri: string;
    } | null;
    /** Raw columns this version was trained without, after a review flagged them; null when none. */
    readonly droppedFeatures: readonly string[] | null;
  };
}
