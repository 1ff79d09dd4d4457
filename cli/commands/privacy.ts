/**
 * `keel privacy epsilon | noise`: the RDP accountant from a terminal. `epsilon` is what `steps`
 * of the sampled Gaussian mechanism spend at δ; `noise` is the noise multiplier that meets a
 * target ε (Opacus's search). Both over Opacus's default orders.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { calibrateNoise, epsilonSpent, PrivacyBudgetError } from '../../functions/core/privacy/rdp.ts';
import { ValidationError } from '../../functions/kernel/errors.ts';
import type { Io } from '../output.ts';

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
}
