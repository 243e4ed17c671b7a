/**
 * Worker-thread entry serving {@link psiOps}.
 *
 * @internal
 * @packageDocumentation
 */
import { parentPort } from 'node:worker_threads';
import { serveRegistry } from '../util/pool.js';
import { psiOps } from './ops.js';

if (parentPort) serveRegistry(psiOps, parentPort);
