import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { DynamoApprovalStore } from '../../functions/adapters/aws/approval-store.ts';
import { S3CaptureSink } from '../../functions/adapters/aws/capture.ts';
import { S3CaptureReader } from '../../functions/adapters/aws/capture-reader.ts';
import { documentClient, s3Client } from '../../functions/commons/clients.ts';
import type { CaptureRecord } from '../../functions/contracts/capture.ts';
import { ConflictError, NotFoundError } from '../../functions/kernel/errors.ts';
import type { ApprovalRequest } from '../../functions/ports/approval-store.ts';
import { ensureBucket, ensureTable } from '../../local/provision.ts';

const suffix = randomUUID().slice(0, 8);
const table = `approvals-it-${suffix}`;
const bucket = `capture-it-${suffix}`;

beforeAll(async () => {
  await Promise.all([ensureTable(table), ensureBucket(bucket)]);
});

describe(`retraining adapters (${inject('awsTier')} tier)`, () => {
  it('DynamoApprovalStore keeps requests by execution and takes one decision', async () => {
    // Prepare
    const store = new DynamoApprovalStore(documentClient(), table);
    const request: ApprovalRequest = {
      execution: `arn:aws:states:us-east-1:000000000000:execution:keel-credit-retraining:run-${suffix}`,
      model: 'credit',
      taskToken: 'token',
      requestedAt: '2026-11-26T10:00:00.000Z',
      expiresAt: '2026-11-29T10:00:00.000Z',
      candidate: { algorithm: 'gbdt', manifestId: 'gbdt-1', validationAuc: 0.81 },
      gates: [
        {
          gate: 'safety',
          check: 'valid outputs (holdout)',
          candidate: 0,
          production: null,
          threshold: '= 0',
          passed: true,
        },
      ],
      status: 'pending',
    };

    // Act
    await store.put(request);
    const pending = await store.list();
    const decided = await store.decide(`run-${suffix}`, {
      decision: 'approved',
      actor: 'ana',
      reason: 'ok',
      at: '2026-11-26T11:00:00.000Z',
    });
    const again = store.decide(request.execution, {
      decision: 'rejected',
      actor: 'bo',
      reason: 'no',
      at: '2026-11-26T12:00:00.000Z',
    });

    // Assess
    expect(pending).toEqual([request]);
    expect(decided).toMatchObject({ status: 'approved', decidedBy: 'ana' });
    await expect(again).rejects.toBeInstanceOf(ConflictError);
    expect(await store.list()).toEqual([]);
    expect(await store.list({ all: true })).toEqual([
      expect.objectContaining({ status: 'approved', decidedBy: 'ana' }),
    ]);
    await expect(store.find('no-such-run')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('S3CaptureReader reads back what the capture sink wrote, within the window only', async () => {
    // Prepare: records on three days, written as the local runtime (and Firehose) lay them out.
    const sink = new S3CaptureSink({ client: s3Client(), bucket });
    const record = (id: string, day: string, type: 'prediction' | 'feedback'): CaptureRecord =>
      type === 'prediction'
        ? {
            type,
            prediction_id: id,
            timestamp: `2026-11-${day}T12:00:00.000Z`,
            model: 'credit',
            model_version: '1',
            served_by: 'primary',
            inputs: { income: 1 },
            outputs: { probability: 0.1, label: 0 },
            latency_ms: 1,
          }
        : {
            type,
            prediction_id: id,
            model: 'credit',
            outcome: 1,
            observed_at: `2026-11-${day}T13:00:00.000Z`,
            timestamp: `2026-11-${day}T13:00:00.000Z`,
          };
    sink.write([
      record('a', '20', 'prediction'),
      record('b', '22', 'prediction'),
      record('b', '23', 'feedback'),
      record('c', '25', 'prediction'),
    ]);
    await sink.flush();

    // Act
    const read = await new S3CaptureReader(s3Client(), bucket).read('credit', {
      from: new Date('2026-11-21T00:00:00Z'),
      to: new Date('2026-11-24T00:00:00Z'),
    });

    // Assess
    expect(read.predictions.map((p) => p.prediction_id)).toEqual(['b']);
    expect(read.feedback.map((f) => f.prediction_id)).toEqual(['b']);

    // Act: the drift check's file-at-a-time view of the same capture.
    const reader = new S3CaptureReader(s3Client(), bucket);
    const files = await reader.files('credit', 'prediction', {
      from: new Date('2026-11-22T11:30:00Z'),
      to: new Date('2026-11-25T12:00:00Z'),
    });
    const records = (await Promise.all(files.map((key) => reader.readFile(key)))).flat();

    // Assess: the hour partitions overlapping the window (12:00 on the 22nd and the 25th), in key order.
    expect(
      files.every((key) => /^capture\/prediction\/model=credit\/date=2026-11-2[25]\/hour=12\//.test(key)),
    ).toBe(true);
    expect(records.map((r) => r.prediction_id).sort()).toEqual(['b', 'c']);
  });
});
