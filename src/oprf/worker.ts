/**
 * Worker-thread entry serving {@link oprfOps}.
 *
 * @internal
 * @packageDocumentation
 */
import { parentPort } from 'node:worker_threads';
import { serveRegistry } from '../util/pool.js';
import { oprfOps } from './ops.js';

if (parentPort) serveRegistry(oprfOps, parentPort);
