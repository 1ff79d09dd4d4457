/**
 * `npm run bench:privacy`: the AUC-vs-ε table of the README. Logistic regression on the credit
 * population (the declared pipeline of `examples/private-credit/features.json`), trained
 * privately by DP-SGD at ε ∈ {0.5, 1, 3, 8} (δ = 1e-5, 5 epochs of expected batch 256, clip 1)
 * and without privacy (∞, Newton’s method), on 500, 2,000 and 20,000 rows, three seeds each; holdout
 * AUC as mean (min–max). A quality benchmark: it measures what privacy costs, not time.
 */
import { readFileSync } from 'node:fs';
import type { Transform } from '../functions/core/features/transforms.ts';
import { generateCredit } from '../functions/core/synthetic/credit.ts';
import { train } from '../functions/core/training/train.ts';

const features = JSON.parse(
  readFileSync(new URL('../examples/private-credit/features.json', import.meta.url), 'utf8'),
) as Transform[];
const EPSILONS = [0.5, 1, 3, 8, Number.POSITIVE_INFINITY];
const SIZES = [500, 2000, 20_000];
const SEEDS = [1, 2, 3];

const lines = [
  `| ε (δ = 1e-5) | ${SIZES.map((n) => `AUC, ${n.toLocaleString('en-US')} rows`).join(' | ')} |`,
];
lines.push(`|---|${SIZES.map(() => '---').join('|')}|`);
for (const epsilon of EPSILONS) {
  const cells = SIZES.map((rows) => {
    const aucs = SEEDS.map((seed) => {
      const result = train(generateCredit({ rows, seed }), {
        label: 'default',
        protected: ['sex', 'age_band'],
        exclude: ['applicant_id'],
        algorithm: 'lr',
        features,
        seed,
        bootstrapSamples: 50,
        dataHash: '0'.repeat(64),
        codeVersion: 'bench',
        // Seeded, so the table reproduces; a release draws its noise cryptographically.
        ...(Number.isFinite(epsilon) ? { privacy: { epsilon, delta: 1e-5, seededNoise: true } } : {}),
      });
      return result.metrics.auc;
    });
    const mean = aucs.reduce((a, b) => a + b, 0) / aucs.length;
    return `${mean.toFixed(3)} (${Math.min(...aucs).toFixed(3)}–${Math.max(...aucs).toFixed(3)})`;
  });
  lines.push(`| ${Number.isFinite(epsilon) ? epsilon : '∞ (not private)'} | ${cells.join(' | ')} |`);
}
console.log(lines.join('\n'));
