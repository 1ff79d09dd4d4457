/**
 * `keel privacy epsilon | noise | ledger`: the RDP accountant from a terminal. `epsilon` is what
 * `steps` of the sampled Gaussian mechanism spend at δ; `noise` is the noise multiplier that
 * meets a target ε (Opacus's search), both over Opacus's default orders; `ledger` is what each
 * data source has spent of its budget, entry by entry.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../../functions/contracts/config/load.ts';
import { type KeelConfig, ledgerOf } from '../../functions/contracts/config/schema.ts';
import type { LedgerEntry, PrivacyBudget } from '../../functions/contracts/privacy.ts';
import { describeMechanism } from '../../functions/core/privacy/mechanisms.ts';
import { calibrateNoise, epsilonSpent, PrivacyBudgetError } from '../../functions/core/privacy/rdp.ts';
import { NotFoundError, ValidationError } from '../../functions/kernel/errors.ts';
import type { PrivacyLedger } from '../../functions/registry/ledger.ts';
import { table } from '../format.ts';
import type { Io } from '../output.ts';
import { openTarget } from '../target.ts';

/** The ledgers the config declares, by name, with their budgets and the models on each. */
export function declaredLedgers(config: KeelConfig): Map<string, PrivacyBudget & { models: string[] }> {
  const ledgers = new Map<string, PrivacyBudget & { models: string[] }>();
  for (const [model, m] of Object.entries(config.models)) {
    const declared = ledgerOf(m);
    if (!declared) continue;
    const known = ledgers.get(declared.ledger);
    if (known) known.models.push(model);
    else ledgers.set(declared.ledger, { epsilon: declared.epsilon, delta: declared.delta, models: [model] });
  }
  return ledgers;
}

/** The ledger a name or a model names, and its budget, from the config. */
export function resolveLedger(
  config: KeelConfig,
  which: { readonly model?: string; readonly ledger?: string },
): { ledger: string; budget: PrivacyBudget } {
  const ledgers = declaredLedgers(config);
  if (which.model !== undefined) {
    const m = config.models[which.model];
    if (!m) throw new NotFoundError(`no model named ${which.model} in the config`);
    const declared = ledgerOf(m);
    if (!declared)
      throw new ValidationError('No privacy budget', [
        { path: `models.${which.model}.data.privacy`, message: 'declare the data source’s ε and δ' },
      ]);
    return { ledger: declared.ledger, budget: { epsilon: declared.epsilon, delta: declared.delta } };
  }
  const name = which.ledger as string;
  const found = ledgers.get(name);
  if (!found)
    throw new ValidationError('No budget for this ledger', [
      {
        path: 'ledger',
        message: `no model's data.privacy names ${name}${ledgers.size > 0 ? ` (declared: ${[...ledgers.keys()].join(', ')})` : ''}`,
      },
    ]);
  return { ledger: name, budget: { epsilon: found.epsilon, delta: found.delta } };
}

async function allEntries(ledger: PrivacyLedger, name: string): Promise<LedgerEntry[]> {
  const entries: LedgerEntry[] = [];
  let cursor: string | undefined;
  do {
    const page = await ledger.entries(name, cursor ? { cursor } : {});
    entries.push(...page.items);
    cursor = page.cursor;
  } while (cursor);
  return entries;
}

const fixed = (x: number) => x.toFixed(3);

const positiveNumber = (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError(`expected a number greater than 0, got "${value}"`);
  return n;
};

const nonNegativeNumber = (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError(`expected a number ≥ 0, got "${value}"`);
  return n;
};

const rate = (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !(n > 0 && n <= 1))
    throw new InvalidArgumentError(`expected a rate in (0, 1], got "${value}"`);
  return n;
};

const openUnit = (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !(n > 0 && n < 1))
    throw new InvalidArgumentError(`expected a number in (0, 1), got "${value}"`);
  return n;
};

const steps = (value: string): number => {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a whole number of steps ≥ 1, got "${value}"`);
  return n;
};

/** The options both verbs take: the mechanism's sample rate and steps, and δ. */
function withMechanism(command: Command): Command {
  return command
    .requiredOption(
      '--sample-rate <q>',
      'the chance that a row is in a step’s batch (Poisson sampling)',
      rate,
    )
    .requiredOption('--steps <t>', 'steps of the mechanism', steps)
    .requiredOption('--delta <d>', 'δ', openUnit);
}

export function registerPrivacy(program: Command, io: Io): void {
  const privacy = program
    .command('privacy')
    .description('The RDP accountant of the sampled Gaussian mechanism');
  withMechanism(privacy.command('epsilon'))
    .description(
      'ε spent by STEPS of the sampled Gaussian mechanism at δ (Rényi DP, Balle et al. conversion)',
    )
    .requiredOption(
      '--noise-multiplier <s>',
      'σ: noise standard deviation over the clipping norm',
      nonNegativeNumber,
    )
    .option('--json', 'print {"epsilon","order","delta"}')
    .action((options) => {
      const spent = epsilonSpent({
        noiseMultiplier: options.noiseMultiplier,
        sampleRate: options.sampleRate,
        steps: options.steps,
        delta: options.delta,
      });
      if (options.json) {
        io.out(JSON.stringify({ epsilon: spent.epsilon, order: spent.order, delta: spent.delta }));
        return;
      }
      io.out(
        `ε = ${spent.epsilon.toFixed(4)} at δ = ${spent.delta} (best order ${spent.order}; σ = ${options.noiseMultiplier}, q = ${options.sampleRate}, ${options.steps} steps)`,
      );
    });
  withMechanism(privacy.command('noise'))
    .description('The noise multiplier that spends at most ε at δ over STEPS at sample rate q')
    .requiredOption('--epsilon <e>', 'the target ε', positiveNumber)
    .option('--json', 'print {"noiseMultiplier","epsilon","order","delta"}')
    .action((options) => {
      let found: ReturnType<typeof calibrateNoise>;
      try {
        found = calibrateNoise({
          epsilon: options.epsilon,
          delta: options.delta,
          sampleRate: options.sampleRate,
          steps: options.steps,
        });
      } catch (error) {
        if (error instanceof PrivacyBudgetError)
          throw new ValidationError('The privacy budget cannot be met', [
            { path: 'epsilon', message: error.message },
          ]);
        throw error;
      }
      if (options.json) {
        io.out(JSON.stringify({ ...found, delta: options.delta }));
        return;
      }
      io.out(
        `σ = ${found.noiseMultiplier.toFixed(4)} spends ε = ${found.epsilon.toFixed(4)} at δ = ${options.delta} (order ${found.order})`,
      );
    });
  registerLedger(privacy, io);
}

function registerLedger(privacy: Command, io: Io): void {
  privacy
    .command('ledger [model]')
    .description(
      'What each data source has spent of its privacy budget (the model’s, or every declared one), entry by entry',
    )
    .option('--ledger <name>', 'a ledger by name (a data source URI) instead of a model')
    .option('--json', 'print {"ledgers":[{"ledger","budget","epsilon","remaining","entries":[…]}]}')
    .action(async (model: string | undefined, options, command: Command) => {
      const configFile = (command.optsWithGlobals() as { config: string }).config;
      const config = await loadConfig(configFile);
      const chosen =
        model !== undefined || options.ledger !== undefined
          ? [resolveLedger(config, { model, ledger: options.ledger })]
          : [...declaredLedgers(config)].map(([ledger, b]) => ({
              ledger,
              budget: { epsilon: b.epsilon, delta: b.delta },
            }));
      if (chosen.length === 0)
        throw new ValidationError('No privacy budget', [
          { path: 'models.*.data.privacy', message: 'no model declares one' },
        ]);
      const target = await openTarget(configFile);
      try {
        const ledgers = [];
        for (const { ledger, budget } of chosen) {
          const balance = await target.ledger.balance(ledger, budget);
          ledgers.push({ ...balance, entries: await allEntries(target.ledger, ledger) });
        }
        if (options.json) {
          io.out(JSON.stringify({ ledgers: ledgers.map(({ lastSeq: _seq, ...l }) => l) }, null, 2));
          return;
        }
        for (const l of ledgers) {
          io.out(
            `${l.ledger}: ε = ${fixed(l.epsilon)} of ${l.budget.epsilon} spent at δ = ${l.budget.delta} (${fixed(l.remaining)} left; ${l.spends} spends, ${l.refusals} refused)`,
          );
          if (l.entries.length > 0)
            io.out(
              table(
                l.entries.map((e) => ({
                  seq: e.seq,
                  at: e.at,
                  type: e.type,
                  'epsilon after': fixed(e.epsilonAfter),
                  for: [e.purpose.kind, e.purpose.model, e.purpose.version]
                    .filter((p) => p !== undefined)
                    .join(' '),
                  by: e.actor,
                  mechanism: describeMechanism(e.mechanism),
                })),
                ['seq', 'at', 'type', 'epsilon after', 'for', 'by', 'mechanism'],
              ),
            );
        }
      } finally {
        await target.close();
      }
    });
}
