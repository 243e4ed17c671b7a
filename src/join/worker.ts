/**
 * Worker-thread entry serving {@link joinOps}.
 *
 * @internal
 * @packageDocumentation
 */
import { parentPort } from 'node:worker_threads';
import { serveRegistry } from '../util/pool.js';
import { joinOps } from './ops.js';

if (parentPort) serveRegistry(joinOps, parentPort);
