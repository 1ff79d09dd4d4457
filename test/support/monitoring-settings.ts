import type { MonitoringSettings } from '../../functions/contracts/monitoring.ts';

/** The credit model's drift-check settings, as the shipped config gives them; `overrides` merge over. */
export function creditMonitoringSettings(
  overrides: Partial<Omit<MonitoringSettings, 'alerts'>> & {
    readonly alerts?: Partial<MonitoringSettings['alerts']>;
  } = {},
): MonitoringSettings {
  const { alerts, ...rest } = overrides;
  return {
    project: 'keel',
    model: 'credit',
    windowHours: 24,
    minLabelledRows: 200,
    thresholds: { psiWarning: 0.1, psiDrift: 0.2, pValue: 0.01, datasetShare: 0.5 },
    costs: { currency: 'USD', falsePositive: 150, falseNegative: 2500, truePositiveBenefit: 0 },
    decisionsPerDay: 20_000,
    ...rest,
    alerts: {
      dailyBudget: 250_000,
      on: 'impact',
      confidence: 0.95,
      retrain: true,
      retrainCooldownHours: 24,
      ...alerts,
    },
  };
}
