/**
 * The base data a model trains on (the config's `data.source`, or a run's override): a CSV file,
 * an S3 object, a lineage dataset, or a synthetic population.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { parse as parseCsv } from 'csv-parse/sync';
import { readCsv } from '../core/data/csv.ts';
import type { Table } from '../core/data/table.ts';
import { generateCredit } from '../core/synthetic/credit.ts';
import { ValidationError } from '../kernel/errors.ts';
import type { LineageStore } from '../lineage/store.ts';
import { syntheticScenario } from './data.ts';

/** What reading the base data needs: S3 objects by URI, and lineage datasets. */
export interface BaseDataSources {
  readonly readObject: (uri: string) => Promise<Uint8Array>;
  readonly lineage: LineageStore;
}

/** The base data: a CSV file, an S3 object, a lineage dataset, or a synthetic population. */
export async function loadBaseData(source: string, deps: BaseDataSources): Promise<Table> {
  if (source.startsWith('synthetic:')) return generateCredit(syntheticScenario(source));
  if (source.startsWith('lineage:')) {
    const bytes = await deps.lineage.getBytes({ kind: 'datasets', sha256: source.slice('lineage:'.length) });
    return readCsv(Readable.from([Buffer.from(bytes)]), { source });
  }
  if (source.startsWith('s3://')) {
    return readCsv(Readable.from([Buffer.from(await deps.readObject(source))]), { source });
  }
  const info = await stat(source).catch((cause: unknown) => {
    throw new ValidationError('Cannot read the base data', [
      { path: 'data.source', message: `${source}: ${(cause as Error).message}` },
    ]);
  });
  if (!info.isFile())
    throw new ValidationError('Cannot read the base data', [
      { path: 'data.source', message: `${source} is not a file` },
    ]);
  return readCsv(source, { source });
}

/**
 * The base data's column names, without reading a local CSV past its header: what `keel up`
 * checks the config's column names against before anything runs.
 */
export async function baseDataColumns(source: string, deps: BaseDataSources): Promise<string[]> {
  if (source.startsWith('synthetic:'))
    return [...generateCredit({ ...syntheticScenario(source), rows: 1 }).columns.keys()];
  if (source.startsWith('lineage:') || source.startsWith('s3://'))
    return [...(await loadBaseData(source, deps)).columns.keys()];
  const lines = createInterface({
    input: createReadStream(source, { encoding: 'utf8' }),
    crlfDelay: Infinity,
  });
  try {
    for await (const line of lines) return parseCsv(line, { bom: true })[0] ?? [];
  } catch (cause) {
    throw new ValidationError('Cannot read the base data', [
      { path: 'data.source', message: `${source}: ${(cause as Error).message}` },
    ]);
  } finally {
    lines.close();
  }
  return [];
}
