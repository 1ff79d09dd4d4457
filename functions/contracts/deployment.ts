/**
 * Traffic-shifting configuration, named like CodeDeploy's predefined Lambda configurations
 * (`canary10-5m` is `CodeDeployDefault.LambdaCanary10Percent5Minutes`) or given explicitly.
 */
export type TrafficShift =
  | { readonly type: 'all-at-once' }
  | { readonly type: 'canary'; readonly percentage: number; readonly intervalMinutes: number }
  | { readonly type: 'linear'; readonly percentage: number; readonly intervalMinutes: number };

const PREDEFINED_CANARY_MINUTES = new Set([5, 10, 15, 30]);
const PREDEFINED_LINEAR_NAMES: Readonly<Record<number, string>> = {
  1: 'LambdaLinear10PercentEvery1Minute',
  2: 'LambdaLinear10PercentEvery2Minutes',
  3: 'LambdaLinear10PercentEvery3Minutes',
  10: 'LambdaLinear10PercentEvery10Minutes',
};

/**
 * The CodeDeploy deployment-configuration name for a traffic shift. Predefined configurations
 * keep their `CodeDeployDefault.*` names; any other shift gets a `Keel…` name that the CDK
 * serving construct creates as a custom configuration. Both sides call this function, so
 * they cannot disagree.
 */
export function codeDeployConfigName(shift: TrafficShift): string {
  switch (shift.type) {
    case 'all-at-once':
      return 'CodeDeployDefault.LambdaAllAtOnce';
    case 'canary':
      if (shift.percentage === 10 && PREDEFINED_CANARY_MINUTES.has(shift.intervalMinutes)) {
        return `CodeDeployDefault.LambdaCanary10Percent${shift.intervalMinutes}Minutes`;
      }
      return `KeelCanary${shift.percentage}Percent${shift.intervalMinutes}Minutes`;
    case 'linear': {
      const predefined = shift.percentage === 10 ? PREDEFINED_LINEAR_NAMES[shift.intervalMinutes] : undefined;
      if (predefined !== undefined) return `CodeDeployDefault.${predefined}`;
      return `KeelLinear${shift.percentage}PercentEvery${shift.intervalMinutes}Minutes`;
    }
  }
}

/**
 * Share of traffic (0..1) on the target version `elapsedMs` after a deployment started, as
 * CodeDeploy shifts it: a canary holds `percentage` for one interval then goes to 100 %; a
 * linear shift adds `percentage` every interval.
 */
export function targetWeightAt(shift: TrafficShift, elapsedMs: number): number {
  if (shift.type === 'all-at-once') return 1;
  const intervalMs = shift.intervalMinutes * 60_000;
  if (shift.type === 'canary') return elapsedMs >= intervalMs ? 1 : shift.percentage / 100;
  const steps = Math.floor(elapsedMs / intervalMs) + 1;
  return Math.min(1, (steps * shift.percentage) / 100);
}

/** Total time until all traffic is on the target version. */
export function shiftDurationMs(shift: TrafficShift): number {
  if (shift.type === 'all-at-once') return 0;
  const intervalMs = shift.intervalMinutes * 60_000;
  if (shift.type === 'canary') return intervalMs;
  return (Math.ceil(100 / shift.percentage) - 1) * intervalMs;
}
