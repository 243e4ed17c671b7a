/**
 * `koppel oprf keygen` and `koppel oprf serve`: the blind pseudonymisation service.
 * Its client is `koppel pseudonymise --oprf URL`.
 *
 * @packageDocumentation
 */
import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { KoppelError } from '../errors/index.js';
import { generateOprfKeyFile, importOprfKeyFile, type OprfKey } from '../oprf/key.js';
import { appendReceiptLine, startOprfService, type OprfAgreementTerms, type TokenEntry } from '../oprf/service.js';
import type { ReceiptFile } from '../agreement/receipt.js';
import { readAgreementFile, subcommand, withAgreement, type AgreementFlags } from './agreement.js';
import { addReceiptOption } from './receipt.js';
import { isStdio, readTextFile, writeSecretFile } from './io.js';
import { logListening, parseHostPort, parseIntFlag, peerPolicyFrom, type NetworkFlags } from './common.js';
import type { Console } from './program.js';
import { onStopSignal } from './signals.js';

interface ServeFlags extends AgreementFlags {
  readonly receipt?: string;
  readonly key: string[];
  readonly listen: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsCa?: string;
  readonly tokens?: string;
  readonly insecure?: boolean;
  readonly peer?: string;
  readonly peerFingerprint?: string;
  readonly anyPeer?: boolean;
  readonly state?: string;
  readonly rate: number;
  readonly budget: number;
  readonly budgetPeriod: number;
  readonly maxBatch: number;
  readonly threads?: number;
  readonly maxConnections: number;
  readonly handshakeTimeout: number;
}

/** Parses a token file: one `<client-name> <token>` per line; `#` starts a comment. */
export function parseTokenFile(text: string): TokenEntry[] {
  const out: TokenEntry[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const l = line.trim();
    if (!l || l.startsWith('#')) return;
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]{0,63})\s+([A-Za-z0-9._~+/=-]{16,256})$/.exec(l);
    if (!m)
      throw new KoppelError('INVALID_ARGUMENT', 'A token file line must be "<client-name> <token>" with a token of 16 to 256 URL-safe characters.', {
        details: { line: i + 1 },
      });
    out.push({ client: m[1] as string, token: m[2] as string });
  });
  if (out.length === 0) throw new KoppelError('INVALID_ARGUMENT', 'The token file lists no tokens.');
  return out;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Registers `oprf keygen` and `oprf serve`. */
export function oprfCommand(program: Command, io: Console): void {
  const oprf = program
    .command('oprf')
    .description('Blind pseudonymisation service (RFC 9497 OPRF/VOPRF over HTTPS); clients use `koppel pseudonymise --oprf URL`.');
  oprf
    .command('keygen')
    .description('Generate an OPRF service key file (a 32-byte seed; one key id per mode).')
    .option('--out <file>', 'where to write the key (mode 0600); "-" or absent: stdout')
    .option('--label <label>', 'a human label stored with the key')
    .option('--force', 'replace an existing key file')
    .action(async (flags: { out?: string; label?: string; force?: boolean }) => {
      const json = generateOprfKeyFile(flags.label);
      const k = importOprfKeyFile(json);
      if (isStdio(flags.out)) io.out(json);
      else await writeSecretFile(flags.out as string, json, flags.force === true);
      io.err(`koppel: generated OPRF key: key id ${k.voprf.kid} (voprf), ${k.oprf.kid} (oprf)${isStdio(flags.out) ? '' : ` in ${flags.out}`}`);
    });

  oprf
    .command('serve')
    .description('Serve blind evaluations over HTTPS until SIGINT or SIGTERM (then finish requests in flight and exit).')
    .requiredOption('--key <file>', 'OPRF key file; repeat to serve several (rotation): the first is current', collect)
    .requiredOption('--listen <host:port>', 'address to listen on, e.g. 0.0.0.0:7400')
    .option('--tls-cert <file>', "the service's certificate (PEM)")
    .option('--tls-key <file>', "the service's private key (PEM)")
    .option('--tls-ca <file>', 'CA of client certificates: require mutual TLS and name clients by certificate CN')
    .option('--peer <names>', 'with --tls-ca: serve only client certificates carrying one of these names (CN or DNS/IP subjectAltName), comma-separated')
    .option('--peer-fingerprint <hex>', 'with --tls-ca: serve only client certificates with one of these SHA-256 fingerprints, comma-separated')
    .option('--any-peer', 'with --tls-ca: serve every client certificate the CA signed (one of --peer, --peer-fingerprint, --any-peer is required)')
    .option('--tokens <file>', 'bearer tokens, one "<client-name> <token>" per line: every request needs one')
    .option('--insecure', 'plain HTTP without client authentication: loopback demos only')
    .option('--rate <n>', 'requests per second per client (burst twice this)', parseIntFlag('--rate', 1, 1_000_000), 50)
    .option('--budget <n>', 'evaluations per client per budget period', parseIntFlag('--budget', 1, 2 ** 40), 1_000_000)
    .option('--state <file>', 'keep the budget ledger in this file, so a restart or a crash resets no budget (written atomically before every answer)')
    .option('--budget-period <seconds>', 'length of a budget period', parseIntFlag('--budget-period', 1, 366 * 86400), 86400)
    .option('--max-batch <n>', 'most elements per request', parseIntFlag('--max-batch', 1, 100_000), 10_000)
    .option('--threads <n>', `worker threads (default: ${availableParallelism()})`, parseIntFlag('--threads', 0, 256))
    .option('--max-connections <n>', 'connections held at once; more are closed at once', parseIntFlag('--max-connections', 1, 100_000), 256)
    .option(
      '--handshake-timeout <seconds>',
      "a client must finish TLS and send a request's headers within this, or it is closed",
      parseIntFlag('--handshake-timeout', 1, 3600),
      10,
    )
    .addHelpText(
      'after',
      '\nAccess logs: JSON lines on stdout (client, path, status, element count, time; never elements).\nThe valid BSN space is about 91 million numbers: keep budgets tight, or the service is an enumeration oracle.',
    )
    .action(async (flags: ServeFlags, cmd: Command) => {
      const { host, port } = parseHostPort(flags.listen, '--listen');
      const terms = flags.agreementRun ? serviceTerms(flags, cmd) : undefined;
      if (flags.receipt !== undefined && (flags.insecure || !flags.tlsCert || !flags.tlsKey || !flags.tlsCa))
        throw new KoppelError(
          'INVALID_ARGUMENT',
          '--receipt signs with the service\u2019s TLS key and names clients by certificate: it needs mutual TLS (--tls-cert, --tls-key, --tls-ca).',
        );
      const keys: OprfKey[] = flags.key.flatMap((path) => {
        const k = importOprfKeyFile(readTextFile(path, 'OPRF key file'));
        return [k.voprf, k.oprf];
      });
      if (flags.insecure && (flags.tlsCert || flags.tlsKey || flags.tlsCa || flags.tokens))
        throw new KoppelError('INVALID_ARGUMENT', 'Use either --insecure or TLS and authentication flags, not both.');
      if (flags.insecure) {
        io.err('koppel: oprf serve: WARNING: --insecure: plain HTTP, no client authentication; loopback only.');
      } else {
        if (!flags.tlsCert || !flags.tlsKey)
          throw new KoppelError('INVALID_ARGUMENT', 'The service needs --tls-cert and --tls-key (HTTPS), or --insecure for a loopback demo.');
        if (!flags.tlsCa && !flags.tokens)
          throw new KoppelError('INVALID_ARGUMENT', 'Clients must be authenticated: pass --tls-ca (mutual TLS) or --tokens FILE.');
      }
      const pinFlags = { peer: flags.peer, peerFingerprint: flags.peerFingerprint, anyPeer: flags.anyPeer } as NetworkFlags;
      if (!flags.tlsCa && (flags.peer !== undefined || flags.peerFingerprint !== undefined || flags.anyPeer)) {
        throw new KoppelError('INVALID_ARGUMENT', '--peer, --peer-fingerprint and --any-peer name client certificates: they need --tls-ca (mutual TLS).');
      }
      // Under mutual TLS, say which client certificates may use the service, as every networked command does.
      const clients = flags.tlsCa ? peerPolicyFrom(pinFlags, { tls: { cert: '', key: '', ca: '' } }) : undefined;
      const service = await startOprfService({
        keys,
        host,
        port,
        ...(clients ? { clients } : {}),
        ...(terms ? { agreement: terms } : {}),
        ...(flags.receipt !== undefined ? { receipts: serviceReceipts(flags, io) } : {}),
        ...(flags.state ? { stateFile: flags.state } : {}),
        ...(flags.insecure
          ? {}
          : {
              tls: {
                cert: readTextFile(flags.tlsCert as string, 'TLS certificate'),
                key: readTextFile(flags.tlsKey as string, 'TLS key'),
                ...(flags.tlsCa ? { ca: readTextFile(flags.tlsCa, 'TLS CA certificate') } : {}),
              },
            }),
        ...(flags.tokens ? { tokens: parseTokenFile(readTextFile(flags.tokens, 'token file')) } : {}),
        rate: flags.rate,
        budget: flags.budget,
        budgetPeriodMs: flags.budgetPeriod * 1000,
        maxBatch: flags.maxBatch,
        maxConnections: flags.maxConnections,
        headersTimeoutMs: flags.handshakeTimeout * 1000,
        ...(flags.threads === undefined ? {} : { threads: flags.threads }),
        log: (entry) => io.out(JSON.stringify(entry) + '\n'),
      });
      logListening(io, 'oprf serve', host, service.port, ` (keys ${keys.map((k) => `${k.kid}/${k.mode}`).join(', ')})`);
      // A stop signal is the service's normal end: finish the requests in flight, exit 0
      // (a second signal stops at once, with 130 or 143).
      await new Promise<void>((resolve) => {
        onStopSignal(() => resolve());
      });
      await service.close();
      io.err('koppel: oprf serve: stopped');
    });
  withAgreement(addReceiptOption(subcommand(oprf, 'serve')), 'service');
}

/**
 * What the agreement fixes for the service: its hash, mode and key id, and every client
 * by certificate with its budget. When every client has its own budget and they differ,
 * `--budget` / `--budget-period` would contradict some of them: refused.
 */
function serviceTerms(flags: ServeFlags, cmd: Command): OprfAgreementTerms {
  const run = flags.agreementRun as NonNullable<AgreementFlags['agreementRun']>;
  const a = readAgreementFile(flags.agreement as string).agreement;
  const clients = a.parties.filter((p) => p.role === 'client');
  for (const [flag, attr, field] of [
    ['--budget', 'budget', 'budget'],
    ['--budget-period', 'budgetPeriod', 'budgetPeriod'],
  ] as const) {
    if (
      cmd.getOptionValueSource(attr) === 'cli' &&
      clients.every((c) => c.policy?.[field] !== undefined) &&
      clients.some((c) => c.policy?.[field] !== flags[attr])
    )
      throw new KoppelError(
        'INVALID_ARGUMENT',
        `${flag} contradicts the agreement (${a.id}), which fixes it for each client; leave it out or change the agreement.`,
        {
          details: { flag },
        },
      );
  }
  return {
    hash: run.hash,
    id: run.id,
    version: run.version,
    party: run.party,
    ...(a.parameters.mode === 'oprf' || a.parameters.mode === 'voprf' ? { mode: a.parameters.mode } : {}),
    ...(a.parameters.kid !== undefined ? { kid: a.parameters.kid } : {}),
    clients: clients.map((c) => ({
      name: c.name,
      certificate: c.certificate,
      ...(c.policy?.budget !== undefined ? { budget: c.policy.budget } : {}),
      ...(c.policy?.budgetPeriod !== undefined ? { budgetPeriodMs: c.policy.budgetPeriod * 1000 } : {}),
    })),
  };
}

/** `--receipt FILE`: one JSON line per client run, fsync'd; the access log says so (sizes only). */
function serviceReceipts(flags: ServeFlags, io: Console) {
  const append = appendReceiptLine(flags.receipt as string);
  return {
    signer: { cert: readTextFile(flags.tlsCert as string, 'TLS certificate'), key: readTextFile(flags.tlsKey as string, 'TLS key') },
    ca: readTextFile(flags.tlsCa as string, 'TLS CA certificate'),
    write: (r: ReceiptFile) => {
      append(r);
      const learned = r.receipt.learned;
      io.out(
        JSON.stringify({
          time: new Date().toISOString(),
          event: 'receipt',
          run: r.receipt.session,
          status: r.receipt.status,
          ...(r.receipt.error ? { code: r.receipt.error } : {}),
          batches: learned['batches'],
          evaluations: learned['evaluations'],
        }) + '\n',
      );
    },
  };
}
