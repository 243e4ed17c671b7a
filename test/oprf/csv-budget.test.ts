/**
 * Issue 19: "the OPRF client had spent 20,001 evaluations of budget before it stopped".
 * With `--on-invalid error` an invalid record stops the run; it must stop before spending
 * budget on records that will not be written: a file is checked in full first, and from
 * stdin (one reading only) each batch is checked before it is sent.
 */
import { Readable, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { OprfPseudonymiser } from '../../src/oprf/client.js';
import { oprfPseudonymiseCsv } from '../../src/oprf/csv.js';
import { generateOprfKeyFile, importOprfKeyFile } from '../../src/oprf/key.js';
import { startOprfService } from '../../src/oprf/service.js';
import { syntheticBsn, SyntheticRandom } from '../../src/demo/synthetic.js';
import { expectCode } from '../helpers/expect-code.js';

const key = importOprfKeyFile(generateOprfKeyFile());
const running: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()));
});

/** 25,000 valid BSNs with an invalid one at record 20,001. */
function file(): string {
  const rng = new SyntheticRandom('oprf-budget');
  const rows = Array.from({ length: 25_000 }, (_, i) => (i === 20_000 ? '123456789' : syntheticBsn(rng)));
  return 'bsn\n' + rows.join('\n') + '\n';
}

async function run(precheck: boolean): Promise<{ evaluated: number; error: unknown }> {
  let evaluated = 0;
  const s = await startOprfService({ keys: [key.voprf], host: '127.0.0.1', port: 0, threads: 0, log: (e) => (evaluated += Number(e['elements'] ?? 0)) });
  running.push(s);
  const c = await OprfPseudonymiser.connect({ url: `http://127.0.0.1:${s.port}`, threads: 0, idType: 'bsn', batchSize: 1000 });
  running.push(c);
  const text = file();
  const chunks = () => Readable.from([Buffer.from(text)]);
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  let error: unknown;
  try {
    await oprfPseudonymiseCsv(chunks(), sink, c, { column: 'bsn', onInvalid: 'error', ...(precheck ? { precheck: chunks } : {}) });
  } catch (e) {
    error = e;
  }
  return { evaluated, error };
}

describe('pseudonymise --oprf --on-invalid error spends no budget on a run that stops', () => {
  it('a file with an invalid BSN at record 20,001 stops with INVALID_BSN naming the record, and the service evaluated nothing', async () => {
    const { evaluated, error } = await run(true);
    const e = await expectCode(Promise.reject(error), 'INVALID_BSN');
    expect(e.details['record']).toBe(20_001);
    expect(evaluated).toBe(0);
  });

  it('read once (stdin), the batch holding the invalid record is never sent: at most the records before it are evaluated', async () => {
    const { evaluated, error } = await run(false);
    await expectCode(Promise.reject(error), 'INVALID_BSN');
    expect(evaluated).toBeLessThanOrEqual(20_000);
  });
});
