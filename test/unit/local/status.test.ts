import { describe, expect, it } from 'vitest';
import { renderStatus, whyOf } from '../../../local/status.ts';

describe('renderStatus', () => {
  it('shows the drift check’s attribution under its reason, when it made one', () => {
    // Prepare
    const why = 'why: inputs moved the mean log-odds by +1.159: debt_to_income +0.946 (USD 1,265,674/day)';
    const reasons = ['money at risk USD 1,066,075/day is over the budget', 'drifted: income, debt', why];

    // Act
    const panel = renderStatus({
      url: 'http://127.0.0.1:3000',
      currency: { credit: 'USD' },
      models: [
        {
          model: 'credit',
          aliases: { production: 1 },
          traffic: [{ version: 1, share: 1 }],
          lastCheck: {
            at: '2026-12-01T19:49:43.000Z',
            status: 'alert',
            moneyAtRisk: 1_066_075,
            reason: reasons[0] as string,
            why: whyOf(reasons) as string,
          },
        },
      ],
    });

    // Assess
    const lines = panel.split('\n');
    const at = lines.findIndex((l) => l.includes('drift check 19:49:43  ALERT'));
    expect(lines[at + 1]?.trim()).toBe(reasons[0]);
    expect(lines[at + 2]?.trim()).toBe(why);
    expect(whyOf(['money at risk USD 0/day'])).toBeUndefined();
  });
});
