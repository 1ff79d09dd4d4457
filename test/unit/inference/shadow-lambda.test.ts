import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CAPTURE_MARKER } from '../../../functions/contracts/capture.ts';

import { captureRecordsFromLogs } from '../../../functions/inference/shadow.ts';

describe('captureRecordsFromLogs', () => {
  it('keeps the marked capture lines of a subscription payload and drops the other log lines', () => {
    // Prepare
    const record = { type: 'prediction', prediction_id: 'p-1', model: 'credit' };
    const payload = {
      messageType: 'DATA_MESSAGE',
      logEvents: [
        { id: '1', timestamp: 0, message: JSON.stringify({ [CAPTURE_MARKER]: 1, ...record }) },
        { id: '2', timestamp: 0, message: '{"level":"INFO","message":"Rejected request"}' },
        { id: '3', timestamp: 0, message: 'START RequestId: abc' },
      ],
    };
    const data = gzipSync(Buffer.from(JSON.stringify(payload))).toString('base64');

    // Act
    const records = captureRecordsFromLogs(data);

    // Assess
    expect(records).toEqual([record]);
  });
});
