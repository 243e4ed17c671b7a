#!/usr/bin/env node
/**
 * Executable entry of the `koppel` command (package.json `bin`).
 *
 * @packageDocumentation
 */
import { run } from './main.js';

process.exitCode = await run(process.argv.slice(2));
