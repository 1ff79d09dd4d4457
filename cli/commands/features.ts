/**
 * `keel features review [model]`: the stale-feature review of a model's production version (or
 * `--version`), now: each raw column's permutation importance on recent labelled decisions
 * against its value at training, mean |SHAP| on both sides, its weight in the outcomes, and what
 * is flagged (stale, unstable, costly, personal data for little importance). The review is
 * stored in lineage, recorded in the version's audit log and put in its model card, as the
 * scheduled one is; the command says how to retrain without what it flagged.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../../functions/contracts/config/load.ts';
import { featureReviewSettings } from '../../functions/contracts/monitoring.ts';
import type { FeatureFinding } from '../../functions/core/explain/feature-review.ts';
import { runFeatureReview } from '../../functions/monitoring/feature-review.ts';
import { LocalEventBus } from '../../local/adapters/event-bus.ts';
import { table } from '../format.ts';
import type { Io } from '../output.ts';
import { openTarget } from '../target.ts';
import { defaultActor } from './registry.ts';
import { pickModel } from './retrain.ts';

const positive = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
};

const instant = (value: string): string => {
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(t))
    throw new InvalidArgumentError(`expected an ISO 8601 time like 2026-11-26T12:00:00Z, got "${value}"`);
  return new Date(t).toISOString();
};

const signed = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(4)}`;

function row(f: FeatureFinding) {
  return {
    column: f.column,
    status: f.status,
    training: `${f.training.aucDrop.toFixed(4)} ± ${f.training.se.toFixed(4)}`,
    production: `${f.production.aucDrop.toFixed(4)} ± ${f.production.se.toFixed(4)}`,
    change: signed(f.change.value),
    '|shap|': f.production.meanAbsShap !== undefined ? f.production.meanAbsShap.toFixed(3) : '',
    weight: f.weight
      ? `×${f.weight.value.toFixed(2)} [${f.weight.lower.toFixed(2)}, ${f.weight.upper.toFixed(2)}]`
      : '',
    flags: f.flags.join(', '),
  };
}

export function registerFeatures(program: Command, io: Io): void {
  const features = program.command('features').description("Reviews of a model's features");
  features
    .command('review')
    .description(
      'Does each feature still earn its place? Importance now against at training, on labelled decisions',
    )
    .argument('[model]', 'the model (default: the only model in the config)')
    .option('--version <n>', 'the version to review (default: production)', positive)
    .option('--as-of <time>', 'end of the window (ISO 8601); default now', instant)
    .option(
      '--window-days <n>',
      'labelled decisions of this many days back (default: the config’s)',
      positive,
    )
    .option('--min-rows <n>', 'labelled decisions needed (default: the config’s)', positive)
    .option('--actor <who>', 'who asks; default KEEL_ACTOR or user@host')
    .option('--json', 'print the review as JSON')
    .action(async (modelArg: string | undefined, options, command: Command) => {
      const configFile = (command.optsWithGlobals() as { config: string }).config;
      const config = await loadConfig(configFile);
      const model = pickModel(config, modelArg);
      const base = featureReviewSettings(config, model);
      const settings = {
        ...base,
        ...(options.windowDays ? { windowDays: options.windowDays as number } : {}),
        ...(options.minRows ? { minLabelledRows: options.minRows as number } : {}),
      };
      const target = await openTarget(configFile);
      try {
        // Events go nowhere from here: the command prints the retrain it would have asked for.
        const outcome = await runFeatureReview(
          {
            settings,
            ...(options.asOf ? { asOf: options.asOf as string } : {}),
            ...(options.version ? { version: options.version as number } : {}),
            actor: (options.actor as string | undefined) ?? defaultActor(),
          },
          {
            registry: target.registry,
            lineage: target.lineage,
            captures: target.capture,
            eventBus: new LocalEventBus(),
          },
        );
        if (options.json) {
          io.out(
            JSON.stringify(
              outcome.status === 'reviewed'
                ? { status: outcome.status, report: outcome.ref.uri, ...outcome.report }
                : outcome,
            ),
          );
          return;
        }
        if (outcome.status === 'skipped') {
          io.out(`${model}${outcome.version ? ` v${outcome.version}` : ''}: not reviewed: ${outcome.reason}`);
          return;
        }
        const { report } = outcome;
        const r = report.review;
        io.out(
          `${model} v${report.version}: ${report.labelledRows} labelled decisions (${report.window.from.slice(0, 10)} to ${report.window.to.slice(0, 10)}), AUC ${r.auc.production.toFixed(4)} (at training ${r.auc.training.toFixed(4)})`,
        );
        io.out('AUC drop when the column is shuffled, at training and now (± standard error):');
        io.out(
          table(r.features.map(row), [
            'column',
            'status',
            'training',
            'production',
            'change',
            '|shap|',
            'weight',
            'flags',
          ]),
        );
        for (const f of r.features.filter((x) => x.reasons.length > 0))
          io.out(`  ${f.column}: ${f.reasons.join('; ')}`);
        io.out(`\n${r.summary}`);
        io.out(`report ${outcome.ref.uri}`);
        if (report.drop.length > 0)
          io.out(
            `a candidate without them: npm run keel -- retrain ${model} --trigger feature-review ${report.drop.map((c) => `--without ${c}`).join(' ')}`,
          );
      } finally {
        await target.close();
      }
    });
}
