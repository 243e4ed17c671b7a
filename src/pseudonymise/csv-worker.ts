/**
 * Worker-thread entry for {@link pseudonymiseCsv}: serves {@link csvChunkOps} on the
 * shared {@link TaskPool} protocol. The pool's initialisation gives each worker the key
 * derived for the one domain, once; the master key never reaches a worker.
 *
 * @internal
 * @packageDocumentation
 */
import { parentPort } from 'node:worker_threads';
import { serveRegistry } from '../util/pool.js';
import { csvChunkOps } from './csv-chunk.js';

if (parentPort) serveRegistry(csvChunkOps, parentPort);
