import { writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig, trafficShiftOf } from '../../functions/contracts/config/load.ts';
import type { RegistryEvent } from '../../functions/contracts/registry.ts';
import { KeelError, ValidationError } from '../../functions/kernel/errors.ts';
import type { TrafficShift } from '../../functions/ports/deployer.ts';
import { loadModelCard } from '../../functions/registry/card.ts';
import type { ModelSummary, ModelVersion } from '../../functions/registry/registry.ts';
import { decideRollback } from '../../functions/registry/state.ts';
import { renderCardMarkdown } from '../../functions/reports/card.ts';
import { renderCardHtml } from '../../functions/reports/card-html.ts';
import { table } from '../format.ts';
import type { Io } from '../output.ts';
import { deployTarget, parseShiftOption, rollOut } from '../rollout.ts';
import { openTarget } from '../target.ts';

/** Who is acting: `--actor`, else `KEEL_ACTOR`, else user@host. */
export function defaultActor(): string {
  return process.env.KEEL_ACTOR || `${userInfo().username}@${hostname()}`;
}

/** Parses `model`, `model@3` or `model@production`. */
export function parseModelRef(text: string): { model: string; ref?: number | string } {
  const [model, ref, extra] = text.split('@');
  if (!model || extra !== undefined || ref === '') {
    throw new ValidationError('Invalid model reference', [
      { path: 'model', message: `expected model[@version|alias], got "${text}"` },
    ]);
  }
  if (ref === undefined) return { model };
  return { model, ref: /^\d+$/.test(ref) ? Number(ref) : ref };
}

function parseVersion(value: string): number {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError(`expected a version number, got "${value}"`);
  return Number(value);
}

function eventRow(e: RegistryEvent) {
  return {
    seq: e.seq,
    at: e.at,
    event: e.details?.rollback ? 'AliasRolledBack' : e.type,
    version: e.version ?? '',
    alias: e.alias ?? '',
    change: e.from === undefined && e.to === undefined ? '' : `${e.from ?? '∅'} → ${e.to ?? ''}`,
    actor: e.actor,
    reason: e.reason,
  };
}

type Globals = { config: string };

async function withTarget<T>(
  command: Command,
  run: (t: Awaited<ReturnType<typeof openTarget>>) => Promise<T>,
): Promise<T> {
  const target = await openTarget((command.optsWithGlobals() as Globals).config);
  try {
    return await run(target);
  } finally {
    await target.close();
  }
}

export function registerRegistry(program: Command, io: Io): void {
  program
    .command('card')
    .description(
      'The model card of a version, generated from the registry and lineage: model[@version|alias]',
    )
    .argument('<model>', 'model (its production version), model@3 or model@production')
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'md', 'html']).default('md'))
    .option('--out <file>', 'write the card to a file instead of printing it')
    .action(
      async (text: string, options: { format: 'json' | 'md' | 'html'; out?: string }, command: Command) => {
        const { model, ref } = parseModelRef(text);
        await withTarget(command, async ({ registry: r, lineage }) => {
          const { card } = await loadModelCard({ registry: r, lineage }, model, ref ?? 'production');
          const rendered =
            options.format === 'json'
              ? `${JSON.stringify(card, null, 2)}\n`
              : options.format === 'html'
                ? await renderCardHtml(card)
                : renderCardMarkdown(card);
          if (options.out) {
            await writeFile(options.out, rendered);
            io.out(`${model}@${card.version}: model card (${options.format}) → ${options.out}`);
          } else io.out(rendered.trimEnd());
        });
      },
    );

  const registry = program.command('registry').description('Inspect and change the model registry');
  const out = (json: boolean | undefined, data: unknown, text: () => string) =>
    io.out(json ? JSON.stringify(data, null, 2) : text());

  registry
    .command('ls')
    .description('List models with their latest version and aliases')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      await withTarget(command, async ({ registry: r }) => {
        const models: ModelSummary[] = [];
        let cursor: string | undefined;
        do {
          const page = await r.listModels(cursor ? { cursor } : {});
          models.push(...page.items);
          cursor = page.cursor;
        } while (cursor);
        out(options.json, models, () =>
          models.length === 0
            ? 'No models registered yet.'
            : table(
                models.map((m) => ({
                  model: m.model,
                  latest: m.latestVersion,
                  aliases: Object.entries(m.aliases)
                    .map(([a, v]) => `${a}=${v}`)
                    .join(' '),
                  updated: m.updatedAt,
                })),
                ['model', 'latest', 'aliases', 'updated'],
              ),
        );
      });
    });

  registry
    .command('show')
    .description('Show a model (its versions) or one version: model[@version|alias]')
    .argument('<model>', 'model, model@3 or model@production')
    .option('--json', 'print JSON')
    .action(async (text: string, options: { json?: boolean }, command: Command) => {
      const { model, ref } = parseModelRef(text);
      await withTarget(command, async ({ registry: r }) => {
        if (ref !== undefined) {
          const v = await r.get(model, ref);
          out(options.json, v, () =>
            [
              `${v.model}@${v.version}  ${v.status}${v.aliases.length ? `  [${v.aliases.join(', ')}]` : ''}`,
              `  status     ${v.status} by ${v.statusChangedBy} at ${v.statusChangedAt}${v.statusReason ? `: ${v.statusReason}` : ''}`,
              `  registered ${v.registeredAt} by ${v.registeredBy}`,
              `  artifact   ${v.metadata.artifact.uri} (${v.metadata.framework})`,
              `  pipeline   ${v.metadata.featurePipeline.version}`,
              `  code       ${v.metadata.codeVersion}   seed ${v.metadata.seed}`,
              `  data       ${v.metadata.trainingData.map((d) => `${d.name}:${d.sha256.slice(0, 12)}`).join(', ')}`,
              `  metrics    ${Object.entries(v.metadata.evaluation.metrics)
                .map(([k, x]) => `${k}=${x}`)
                .join(' ')}`,
              `  owner      ${v.metadata.owner}; intended use: ${v.metadata.intendedUse}`,
              ...(v.metadata.limitations.length ? [`  limits     ${v.metadata.limitations.join('; ')}`] : []),
              ...(v.metadata.parent
                ? [`  parent     ${v.metadata.parent.model}@${v.metadata.parent.version}`]
                : []),
            ].join('\n'),
          );
          return;
        }
        const versions: ModelVersion[] = [];
        let cursor: string | undefined;
        do {
          const page = await r.listVersions(model, cursor ? { cursor } : {});
          versions.push(...page.items);
          cursor = page.cursor;
        } while (cursor);
        out(options.json, { model, aliases: await r.aliases(model), versions }, () =>
          table(
            versions.map((v) => ({
              version: v.version,
              status: v.status,
              aliases: v.aliases.join(' '),
              registered: v.registeredAt,
              by: v.registeredBy,
              auc: v.metadata.evaluation.metrics.auc,
            })),
            ['version', 'status', 'aliases', 'registered', 'by', 'auc'],
          ),
        );
      });
    });

  registry
    .command('history')
    .description('The audit log of a model, or of one alias')
    .argument('<model>')
    .option('--alias <alias>', 'only moves of this alias')
    .option('--json', 'print JSON')
    .action(async (model: string, options: { alias?: string; json?: boolean }, command: Command) => {
      await withTarget(command, async ({ registry: r }) => {
        let events: RegistryEvent[];
        if (options.alias) events = await r.aliasHistory(model, options.alias);
        else {
          events = [];
          let afterSeq = 0;
          for (;;) {
            const page = await r.history(model, { afterSeq, limit: 500 });
            events.push(...page.items);
            const last = page.items.at(-1);
            if (!page.cursor || !last) break;
            afterSeq = last.seq;
          }
        }
        out(
          options.json,
          events.map(({ state: _s, ...e }) => e),
          () =>
            table(events.map(eventRow), [
              'seq',
              'at',
              'event',
              'version',
              'alias',
              'change',
              'actor',
              'reason',
            ]),
        );
      });
    });

  const attributed = (c: Command) =>
    c
      .requiredOption('--reason <text>', 'why; recorded in the audit log')
      .option('--actor <who>', 'who; default KEEL_ACTOR or user@host');

  attributed(
    registry
      .command('promote')
      .description('Point an alias (production by default) at a version')
      .argument('<model>')
      .argument('<version>', 'version number', parseVersion)
      .option('--alias <alias>', 'alias to move', 'production')
      .option(
        '--shift <name>',
        "how production's traffic moves (default: the model's configured shift)",
        parseShiftOption,
      )
      .option('--json', 'print JSON'),
  ).action(
    async (
      model: string,
      version: number,
      options: { alias: string; reason: string; actor?: string; json?: boolean; shift?: TrafficShift },
      command: Command,
    ) => {
      if (options.alias === 'production') {
        // Production is what serves: it moves by a rollout, never behind serving's back.
        const done = await moveProduction(command, io, model, version, {
          ...options,
          rollback: false,
        });
        if (done) return;
      }
      await withTarget(command, async ({ registry: r }) => {
        const expected = (await r.aliases(model))[options.alias] ?? null;
        const moved = await r.moveAlias(
          model,
          options.alias,
          { to: version, expected },
          {
            actor: options.actor ?? defaultActor(),
            reason: options.reason,
          },
        );
        out(options.json, { model, alias: options.alias, ...moved }, () =>
          moved.from === moved.to
            ? `${model}: ${options.alias} already points at version ${version}`
            : `${model}: ${options.alias} ${moved.from ?? '∅'} → ${moved.to}`,
        );
      });
    },
  );

  attributed(
    registry
      .command('rollback')
      .description('Move an alias (production by default) back to its previous version')
      .argument('<model>')
      .option('--alias <alias>', 'alias to roll back', 'production')
      .option(
        '--shift <name>',
        "how production's traffic moves back (default: all-at-once)",
        parseShiftOption,
      )
      .option('--json', 'print JSON'),
  ).action(
    async (
      model: string,
      options: { alias: string; reason: string; actor?: string; json?: boolean; shift?: TrafficShift },
      command: Command,
    ) => {
      if (options.alias === 'production') {
        const to = await withTarget(command, async ({ registry: r }) =>
          decideRollback(model, await r.state(model), 'production'),
        );
        const done = await moveProduction(command, io, model, to.to, { ...options, rollback: true });
        if (done) return;
      }
      await withTarget(command, async ({ registry: r }) => {
        const rolled = await r.rollback(model, {
          alias: options.alias,
          actor: options.actor ?? defaultActor(),
          reason: options.reason,
        });
        out(
          options.json,
          { model, alias: options.alias, ...rolled },
          () => `${model}: ${options.alias} rolled back ${rolled.from} → ${rolled.to}`,
        );
      });
    },
  );

  for (const [verb, status] of [
    ['approve', 'approved'],
    ['reject', 'rejected'],
    ['archive', 'archived'],
  ] as const) {
    attributed(
      registry
        .command(verb)
        .description(`Mark a version ${status}`)
        .argument('<model>')
        .argument('<version>', 'version number', parseVersion)
        .option('--json', 'print JSON'),
    ).action(
      async (
        model: string,
        version: number,
        options: { reason: string; actor?: string; json?: boolean },
        command: Command,
      ) => {
        await withTarget(command, async ({ registry: r }) => {
          await r.setStatus(model, version, status, {
            actor: options.actor ?? defaultActor(),
            reason: options.reason,
          });
          out(options.json, { model, version, status }, () => `${model}@${version} is ${status}`);
        });
      },
    );
  }
}

/**
 * Moves `production` to `version` through a rollout when something serves it (AWS or a running
 * `keel up`), and waits: the registry and live traffic never disagree. A rollback goes all at
 * once unless `--shift` says otherwise; a promotion takes the model's configured shift.
 * Returns false when nothing serves (the local state alone), where the alias simply moves and
 * the next `keel up` serves it.
 */
async function moveProduction(
  command: Command,
  io: Io,
  model: string,
  version: number,
  options: { reason: string; actor?: string; json?: boolean; shift?: TrafficShift; rollback: boolean },
): Promise<boolean> {
  const config = await loadConfig((command.optsWithGlobals() as Globals).config);
  const modelConfig = config.models[model];
  if (!modelConfig || !(await deployTarget(config))) return false;
  const shift =
    options.shift ??
    (options.rollback ? { type: 'all-at-once' as const } : trafficShiftOf(modelConfig.serving.shift));
  const outcome = await rollOut(
    config,
    {
      model,
      version,
      shift,
      actor: options.actor ?? defaultActor(),
      reason: options.rollback ? `rollback: ${options.reason}` : options.reason,
      ...(options.rollback ? { rollback: true } : {}),
    },
    { wait: true },
  );
  if (outcome.status !== 'Succeeded')
    throw new KeelError(
      `${model}@${version}: rollout ${outcome.deploymentId} ended ${outcome.status ?? 'unknown'}${outcome.reason ? ` (${outcome.reason})` : ''}; production is unchanged`,
    );
  const body = { model, alias: 'production', to: version, deploymentId: outcome.deploymentId, shift };
  io.out(
    options.json
      ? JSON.stringify(body, null, 2)
      : `${model}: production ${options.rollback ? 'rolled back' : 'moved'} to ${version}, serving it (rollout ${outcome.deploymentId}, ${shift.type})`,
  );
  return true;
}
