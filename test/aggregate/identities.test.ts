/**
 * Aggregation identities bound to certificates (issue 15, finding 2), tried as the
 * attacker did: with one valid certificate of the shared CA, a party took a victim
 * municipality's id and added two empty "parties", so that `minInputs` was met by one
 * honest party's data. With the round's `parties` list, every submission must come over
 * mutual TLS from the certificate its id names.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Aggregator, checkConfig, collect, configHash, submitInput, type RoundConfig } from '../../src/aggregate/round.js';
import { tabulate } from '../../src/aggregate/tabulate.js';
import { createMemoryChannelPair, type Channel } from '../../src/transport/channel.js';
import { connect, listen, type Listener, type Security } from '../../src/transport/net.js';
import { expectCode, expectCodeSync } from '../helpers.js';
import { pem, testPki } from '../tls.js';
import { households, regions, smallCodebook } from './fixtures.js';

const codebook = smallCodebook();
const VICTIM = 'gemeente-0363';
const ATTACKER = 'gemeente-0599';
const round = (over: Partial<RoundConfig> = {}): RoundConfig => ({
  round: 'r-ids',
  codebook,
  aggregators: 2,
  minInputs: 2,
  deadline: Date.now() + 60_000,
  parties: [
    { id: VICTIM, peer: 'client' },
    { id: ATTACKER, peer: 'other-agency' },
  ],
  ...over,
});

const input = (n: number) =>
  tabulate(
    codebook,
    regions.flatMap((r) => households.flatMap((h) => Array.from({ length: n }, () => ({ cell: [r, h], values: ['1'] })))),
  );

const pki = testPki();
const tls = (cert: string, key: string): Security => ({ tls: { cert: pem(cert), key: pem(key), ca: pem(pki.ca) } });
const victimTls = tls(pki.clientCert, pki.clientKey);
const attackerTls = tls(pki.otherAgencyCert, pki.otherAgencyKey);

/** Two aggregators behind mutual-TLS listeners; `submit` runs one input party with a certificate. */
async function aggregatorsOverTls(cfg: RoundConfig) {
  const aggs = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
  const listeners: Listener[] = await Promise.all(aggs.map(() => listen({ host: '127.0.0.1', port: 0, security: tls(pki.serverCert, pki.serverKey) })));
  const submit = async (security: Security, party: string, n: number) => {
    const accepted = Promise.all(aggs.map(async (a, j) => a.handleInput(await (listeners[j] as Listener).accept(5000))));
    const channels = await Promise.all(listeners.map((l) => connect({ host: '127.0.0.1', port: l.port, security, connectTimeoutMs: 5000 })));
    const outcome = await submitInput(channels, cfg, party, input(n));
    await accepted;
    return outcome;
  };
  const close = () => Promise.all(listeners.map((l) => l.close()));
  return { aggs, submit, close };
}

async function finish(aggs: Aggregator[], cfg: RoundConfig) {
  const pairs = aggs.map(() => createMemoryChannelPair({ idleTimeoutMs: 3000 }));
  const reports = aggs.map((a, j) => a.report((pairs[j] as [Channel, Channel])[0]));
  for (const r of reports) r.catch(() => undefined);
  return collect(
    pairs.map(([, c]) => c),
    cfg,
    { threshold: 1 },
  );
}

describe('aggregation party ids bound to certificates', () => {
  it("another agency's valid certificate cannot take a listed party's id, nor add parties the round does not list; the victim's own submission is still accepted", async () => {
    const cfg = round();
    const { aggs, submit, close } = await aggregatorsOverTls(cfg);
    try {
      // The attack: the victim's id, then two empty made-up parties, all from the attacker's certificate.
      for (const id of [VICTIM, 'fake-1', 'fake-2']) {
        const out = await submit(attackerTls, id, 0);
        expect(out.map((o) => o.code)).toEqual(['PEER_NOT_ALLOWED', 'PEER_NOT_ALLOWED']);
      }
      // The victim is not locked out (no DUPLICATE_INPUT): its certificate matches its id.
      expect((await submit(victimTls, VICTIM, 3)).every((o) => o.accepted)).toBe(true);
      for (const a of aggs) expect(a.accepted).toEqual([VICTIM]);
      // minInputs 2 is not met by one honest party: nothing is released.
      await expectCode(finish(aggs, cfg), 'ROUND_FAILED');
    } finally {
      await close();
    }
  });

  it('the attacker can still submit as itself, and then the round releases two real parties and says their ids are certificates', async () => {
    const cfg = round();
    const { aggs, submit, close } = await aggregatorsOverTls(cfg);
    try {
      expect((await submit(victimTls, VICTIM, 3)).every((o) => o.accepted)).toBe(true);
      expect((await submit(attackerTls, ATTACKER, 2)).every((o) => o.accepted)).toBe(true);
      const r = await finish(aggs, cfg);
      expect(r.inputs).toBe(2);
      expect(r.partyIds).toBe('certificates');
    } finally {
      await close();
    }
  });

  it('over plain channels (no certificate) a listed id is refused: the list needs mutual TLS', async () => {
    const cfg = round();
    const aggs = [new Aggregator(cfg, 0), new Aggregator(cfg, 1)];
    const pairs = aggs.map(() => createMemoryChannelPair());
    const handled = aggs.map((a, j) => a.handleInput((pairs[j] as [Channel, Channel])[1]));
    const out = await submitInput(
      pairs.map(([c]) => c),
      cfg,
      VICTIM,
      input(1),
    );
    await Promise.all(handled);
    expect(out.map((o) => o.code)).toEqual(['PEER_NOT_ALLOWED', 'PEER_NOT_ALLOWED']);
  });

  it('one certificate behind two ids counts once for minInputs: such a round is refused before it starts', () => {
    expectCodeSync(
      () =>
        checkConfig(
          round({
            parties: [
              { id: 'a', peer: 'client' },
              { id: 'b', peer: 'client' },
            ],
          }),
        ),
      'INVALID_ARGUMENT',
    );
    expectCodeSync(
      () =>
        checkConfig(
          round({
            parties: [
              { id: VICTIM, peer: 'client' },
              { id: VICTIM, peer: 'other-agency' },
            ],
          }),
        ),
      'INVALID_ARGUMENT',
    );
  });

  it('the parties list is part of what every party agrees on; a round without one hashes as before', () => {
    const { parties: _, ...without } = round();
    expect(configHash(round())).not.toBe(configHash(without));
    // Without a list, the hash is the one earlier versions computed, so their round files still agree.
    const before = createHash('sha256')
      .update(
        JSON.stringify({
          v: 1,
          round: without.round,
          codebook: codebook.hash,
          aggregators: 2,
          minInputs: 2,
          deadline: without.deadline,
          noise: { distribution: 'none' },
        }),
      )
      .digest('hex');
    expect(configHash(without)).toBe(before);
  });
});
