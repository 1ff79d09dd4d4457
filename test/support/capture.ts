import { GetObjectCommand, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { openTarget } from '../../cli/target.ts';
import { s3Client } from '../../functions/commons/clients.ts';
import { localResourceNames } from '../../functions/contracts/resources.ts';

/**
 * Every prediction id in a project's local capture (shadow scores left out), with how often it
 * is there: what durability checks count answered predictions against. Reads the state of the
 * running `keel up`, or opens the project's state when none runs.
 */
export async function capturedPredictionIds(
  configFile: string,
  project: string,
): Promise<Map<string, number>> {
  const target = await openTarget(configFile);
  const ids = new Map<string, number>();
  try {
    const client = s3Client();
    const bucket = localResourceNames(project).captureBucket;
    for await (const page of paginateListObjectsV2(
      { client },
      { Bucket: bucket, Prefix: 'capture/prediction/' },
    )) {
      for (const object of page.Contents ?? []) {
        const body = await client.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key }));
        for (const line of (await body.Body?.transformToString())?.split('\n') ?? []) {
          if (line.trim() === '') continue;
          const r = JSON.parse(line) as { prediction_id: string; shadow_of?: string };
          if (r.shadow_of === undefined) ids.set(r.prediction_id, (ids.get(r.prediction_id) ?? 0) + 1);
        }
      }
    }
  } finally {
    await target.close();
  }
  return ids;
}
