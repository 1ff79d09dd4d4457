import { createHash } from 'node:crypto';
import type { VersionMetadataInput } from '../../functions/contracts/registry.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** Valid version metadata; `seed` varies the hashes so versions differ. */
export function sampleMetadata(
  seed = 1,
  overrides: Partial<VersionMetadataInput> = {},
): VersionMetadataInput {
  return {
    framework: 'onnx',
    artifact: {
      sha256: sha(`model-${seed}`),
      uri: `s3://lineage/models/sha256/${sha(`model-${seed}`)}`,
      sizeBytes: 1024,
    },
    inputSchema: [
      { name: 'income', type: 'number', min: 0 },
      { name: 'employment', type: 'string', categories: ['salaried', 'self-employed'] },
    ],
    outputSchema: [{ name: 'probability', type: 'number', min: 0, max: 1 }],
    featurePipeline: { version: sha(`pipeline-${seed}`) },
    trainingData: [
      { name: 'train', sha256: sha(`data-${seed}`), uri: `s3://lineage/datasets/${seed}`, rows: 1000 },
    ],
    hyperparameters: { learningRate: 0.1, maxDepth: 6, regularisation: 'l2' },
    seed: 42,
    codeVersion: 'a1b2c3d',
    evaluation: {
      metrics: { auc: 0.8 + seed / 1000 },
      fairness: { sex: { demographicParityRatio: 0.9 } },
      safety: { noNaN: true },
    },
    owner: 'risk-ml',
    intendedUse: 'credit decisions with human review',
    limitations: ['synthetic data'],
    ...overrides,
  };
}
