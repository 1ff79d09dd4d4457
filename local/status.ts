/**
 * The status of a running `keel up`, as `keel up` shows it: where the API is, each model's
 * versions and aliases, how live traffic is split during a canary, the last drift check with
 * its money at risk, the last stale-feature review, and the last pipeline run.
 */
import { createRegistry } from '../functions/composition/aws.ts';
import { inferenceFunctionName, LIVE_ALIAS } from '../functions/contracts/inference.ts';
import { retrainingPipelineName } from '../functions/contracts/retraining.ts';
import type { LocalRuntime } from './runtime.ts';

export interface ModelStatus {
  readonly model: string;
  readonly aliases: Readonly<Record<string, number>>;
  /** Model versions serving live traffic, with their shares (two during a canary). */
  readonly traffic: readonly { readonly version: number; readonly share: number }[];
  /** Set when recent predictions were not all answered by the primary: who answered them. */
  readonly degraded?: readonly { readonly path: string; readonly version: string; readonly share: number }[];
  readonly lastCheck?: {
    readonly at: string;
    readonly status: string;
    readonly moneyAtRisk: number | null;
    readonly reason: string;
    /** Which columns moved the predictions and the money (drift attribution), when it said. */
    readonly why?: string;
  };
  /** The last scheduled stale-feature review: what it flagged, or why it did not review. */
  readonly lastReview?: { readonly at: string; readonly summary: string };
  readonly lastRun?: {
    readonly startedAt: string;
    readonly status: string;
    readonly trigger: string;
    readonly outcome?: string;
    /** Why it ended so: the gate's reason, the failing step's cause, the rollback's alarm. */
    readonly reason?: string;
  };
}

export interface RuntimeStatus {
  readonly url: string | null;
  readonly currency: Readonly<Record<string, string>>;
  readonly models: readonly ModelStatus[];
}

export async function runtimeStatus(runtime: LocalRuntime): Promise<RuntimeStatus> {
  const registry = createRegistry(process.env, runtime.eventBus);
  const models: ModelStatus[] = [];
  for (const model of Object.keys(runtime.config.models)) {
    const aliases = await registry.aliasesOrNone(model);
    const fn = inferenceFunctionName(runtime.config.project, model);
    const modelVersionOf = (functionVersion: string) => {
      const published = runtime.deployer.versions(fn).find((v) => v.version === functionVersion);
      return published
        ? (JSON.parse(published.description) as { modelVersion: number }).modelVersion
        : Number.NaN;
    };
    let traffic: ModelStatus['traffic'] = [];
    if (runtime.deployer.versions(fn).length > 0) {
      const routing = await runtime.deployer.aliasRouting(fn, LIVE_ALIAS).catch(() => undefined);
      if (routing) {
        const extra = routing.additionalVersion;
        traffic = [
          { version: modelVersionOf(routing.version), share: 1 - (extra?.weight ?? 0) },
          ...(extra ? [{ version: modelVersionOf(extra.version), share: extra.weight }] : []),
        ];
      }
    }
    const answered = runtime.serving.answeredBy(model);
    const degraded = answered.some((a) => a.path !== 'primary') ? answered : undefined;
    const check = runtime.lastChecks.get(model);
    const review = runtime.lastReviews.get(model);
    const runs = await runtime.pipelines.list(retrainingPipelineName(runtime.config.project, model));
    const last = runs.at(-1);
    const input = last?.input as { trigger?: { type?: string } } | undefined;
    // The pipeline's Notify step records the outcome (promoted, rolled back, rejected, failed).
    const output = last?.description.output as { notified?: { outcome?: string } } | undefined;
    const finished = runtime.lastRetrainings.get(model);
    const ended =
      finished && last && finished.execution === last.description.executionId ? finished : undefined;
    models.push({
      model,
      aliases,
      traffic,
      ...(degraded ? { degraded } : {}),
      ...(check
        ? {
            lastCheck: {
              at: check.at.toISOString(),
              status: check.status,
              moneyAtRisk: check.moneyAtRisk,
              reason: check.reasons[0] ?? '',
              ...(whyOf(check.reasons) ? { why: whyOf(check.reasons) } : {}),
            },
          }
        : {}),
      ...(review
        ? {
            lastReview: {
              at: review.at.toISOString(),
              summary:
                review.status === 'reviewed'
                  ? `v${review.version}: ${review.summary}`
                  : `not reviewed: ${review.reason}`,
            },
          }
        : {}),
      ...(last
        ? {
            lastRun: {
              startedAt: last.description.startedAt.toISOString(),
              status: last.description.status,
              trigger: input?.trigger?.type ?? 'manual',
              ...(ended
                ? { outcome: ended.outcome, reason: ended.reason }
                : output?.notified?.outcome
                  ? { outcome: output.notified.outcome }
                  : last.description.error
                    ? { outcome: last.description.error }
                    : {}),
            },
          }
        : {}),
    });
  }
  return {
    url: runtime.url ?? null,
    currency: Object.fromEntries(
      Object.entries(runtime.config.models).map(([m, c]) => [m, c.costs.currency]),
    ),
    models,
  };
}

const time = (iso: string) => iso.slice(11, 19);

/** The drift check's attribution among its reasons (`why: …`), when it made one. */
export const whyOf = (reasons: readonly string[]): string | undefined =>
  reasons.find((r) => r.startsWith('why: '));
/** One panel line: long reasons are cut, the whole of them is in `--json` and the audit log. */
const clip = (text: string, width = 160) => (text.length > width ? `${text.slice(0, width - 1)}…` : text);

/** The panel, a few lines per model. */
export function renderStatus(status: RuntimeStatus): string {
  const lines = [
    `Keel  ${status.url ?? '(API not served)'}   ${status.url ? `${status.url}/v2/health/ready` : ''}`,
  ];
  for (const m of status.models) {
    const aliases = Object.entries(m.aliases)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([alias, v]) => `${alias}=v${v}`)
      .join(' ');
    const traffic =
      m.traffic.length === 0
        ? 'not served'
        : m.traffic.map((t) => `v${t.version} ${(t.share * 100).toFixed(0)} %`).join(' · ');
    lines.push(`  ${m.model}  ${aliases || '(no versions yet)'}   live: ${traffic}`);
    if (m.degraded)
      lines.push(
        `    DEGRADED: answered by ${[...m.degraded]
          .sort((a, b) => b.share - a.share)
          .map(
            (a) =>
              `${a.path}${a.version === 'safe-default' ? '' : ` v${a.version}`} ${(a.share * 100).toFixed(0)} %`,
          )
          .join(' · ')} of recent predictions`,
      );
    const currency = status.currency[m.model] ?? '';
    lines.push(
      m.lastCheck
        ? `    drift check ${time(m.lastCheck.at)}  ${m.lastCheck.status.toUpperCase()}  money at risk ${m.lastCheck.moneyAtRisk === null ? '–' : `${currency} ${Math.round(m.lastCheck.moneyAtRisk).toLocaleString('en-US')}/day`}`
        : '    drift check  (none yet)',
    );
    if (m.lastCheck?.reason) lines.push(`      ${clip(m.lastCheck.reason)}`);
    if (m.lastCheck?.why) lines.push(`      ${clip(m.lastCheck.why)}`);
    if (m.lastReview) lines.push(`    features    ${time(m.lastReview.at)}  ${clip(m.lastReview.summary)}`);
    lines.push(
      m.lastRun
        ? `    pipeline    ${time(m.lastRun.startedAt)}  ${m.lastRun.status}${m.lastRun.outcome ? ` (${m.lastRun.outcome})` : ''}  trigger ${m.lastRun.trigger}`
        : '    pipeline     (no run yet)',
    );
    if (m.lastRun?.reason && m.lastRun.outcome !== 'promoted') lines.push(`      ${clip(m.lastRun.reason)}`);
  }
  return lines.join('\n');
}
