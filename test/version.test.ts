import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../src/version.js';
import * as api from '../src/index.js';

describe('package', () => {
  it('reports the version in package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(VERSION).toBe(pkg.version);
  });
  it('exports the names of the interface contract', () => {
    for (const name of [
      'generateKey',
      'exportKey',
      'importKey',
      'Pseudonymiser',
      'normaliseBsn',
      'isValidBsn',
      'KoppelError',
      'pseudonymiseCsv',
      'createMemoryChannelPair',
      'listen',
      'connect',
      'psiServer',
      'psiClient',
      'recordingChannel',
    ]) {
      expect(api).toHaveProperty(name);
    }
  });
});
