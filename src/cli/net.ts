/**
 * Flags every networked command shares: addresses, mutual TLS or an explicit
 * `--insecure`, timeouts and message limits.
 *
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { KoppelError } from '../errors/index.js';
import { prepareTls, type Security } from '../transport/net.js';
import { parseIntFlag } from './shared.js';

/** The parsed network flags. */
export interface NetworkFlags {
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsCa?: string;
  readonly tlsServername?: string;
  readonly insecure?: boolean;
  readonly timeout: number;
  readonly idleTimeout: number;
}

/** Adds `--tls-cert`, `--tls-key`, `--tls-ca`, `--insecure`, `--timeout`, `--idle-timeout`. */
export function addNetworkOptions(c: Command): Command {
  return c
    .option('--tls-cert <file>', 'this party\'s certificate (PEM), for mutual TLS')
    .option('--tls-key <file>', 'this party\'s private key (PEM)')
    .option('--tls-ca <file>', 'the CA certificate (PEM) that signed the peer\'s certificate')
    .option('--tls-servername <name>', 'name the server certificate must carry (connecting side; default: the host)')
    .option('--insecure', 'plain TCP without TLS: only on loopback or a network you trust')
    .option('--timeout <seconds>', 'how long to wait for the peer to come up', parseIntFlag('--timeout', 1, 86400), 60)
    .option('--idle-timeout <seconds>', 'how long to wait for the next message before giving up', parseIntFlag('--idle-timeout', 1, 86400), 300);
}

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new KoppelError('IO_ERROR', `Cannot read the ${what} "${path}".`, { details: { path }, cause: e });
  }
}

/** Turns the flags into transport security, or explains what is missing. */
export function securityFrom(f: NetworkFlags): Security {
  const tls = [f.tlsCert, f.tlsKey, f.tlsCa];
  if (f.insecure) {
    if (tls.some((x) => x !== undefined)) throw new KoppelError('INVALID_ARGUMENT', 'Use either the --tls-* flags or --insecure, not both.');
    return { insecure: true };
  }
  if (tls.some((x) => x === undefined)) {
    throw new KoppelError('INVALID_ARGUMENT', 'Networked commands need mutual TLS (--tls-cert, --tls-key and --tls-ca), or --insecure for plain TCP on loopback or a trusted network.');
  }
  return {
    tls: {
      cert: readPem(f.tlsCert as string, 'TLS certificate'),
      key: readPem(f.tlsKey as string, 'TLS key'),
      ca: readPem(f.tlsCa as string, 'TLS CA certificate'),
      ...(f.tlsServername ? { servername: f.tlsServername } : {}),
    },
  };
}

/**
 * {@link securityFrom}, with the TLS certificate, key and CA checked (and prepared for
 * every connection the command makes) before any peer is contacted.
 */
export async function checkedSecurity(f: NetworkFlags): Promise<Security> {
  const security = securityFrom(f);
  if ('tls' in security) await prepareTls(security.tls);
  return security;
}

/** Parses `HOST:PORT` (`[v6]:PORT` for IPv6). */
export function parseHostPort(text: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new KoppelError('INVALID_ARGUMENT', `${flag} must be HOST:PORT, e.g. 127.0.0.1:7000 or [::1]:7000.`);
  return { host: (m[1] ?? m[2]) as string, port };
}
