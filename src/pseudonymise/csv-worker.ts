/**
 * Worker-thread entry for {@link pseudonymiseCsv}: receives the domain key once, then
 * chunks of CSV bytes, and answers each with the encoded output chunk.
 *
 * The master key never reaches a worker, only the key derived for the one domain.
 *
 * @internal
 * @packageDocumentation
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Pseudonymiser, FROM_DOMAIN_KEY } from './pseudonymiser.js';
import { processChunk, toFailure, type ChunkLayout } from './csv-chunk.js';
import type { IdType } from './normalise.js';

/** The data a worker starts with. */
export interface WorkerInit {
  readonly kid: string;
  readonly domain: string;
  readonly domainKey: Uint8Array;
  readonly idType: IdType;
  readonly layout: ChunkLayout;
}

/** One unit of work. */
export interface WorkerTask {
  readonly seq: number;
  readonly firstRecord: number;
  readonly bytes: Uint8Array;
}

const port = parentPort;
if (port) {
  const init = workerData as WorkerInit;
  const p = new Pseudonymiser({ [FROM_DOMAIN_KEY]: { kid: init.kid, domain: init.domain, domainKey: init.domainKey, idType: init.idType } });
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const encoder = new TextEncoder();
  port.on('message', (task: WorkerTask) => {
    let text: string;
    try {
      text = decoder.decode(task.bytes);
    } catch {
      port.postMessage({ seq: task.seq, result: encodingFailure(task.firstRecord) });
      return;
    }
    try {
      const { text: out, ...rest } = processChunk(text, p, init.layout, task.firstRecord);
      const bytes = encoder.encode(out);
      port.postMessage({ seq: task.seq, result: { ...rest, bytes } }, [bytes.buffer]);
    } catch (e) {
      port.postMessage({ seq: task.seq, result: { records: 0, pseudonymised: 0, rejected: [], bytes: new Uint8Array(0), failure: toFailure(e) } });
    }
  });
}

/** The result for a chunk that is not valid UTF-8. */
export function encodingFailure(firstRecord: number) {
  return {
    records: 0,
    pseudonymised: 0,
    rejected: [],
    bytes: new Uint8Array(0),
    failure: {
      code: 'CSV_MALFORMED' as const,
      message: 'The CSV input is not valid UTF-8; convert it (e.g. iconv -f latin1 -t utf-8) and try again.',
      details: { record: firstRecord },
    },
  };
}
