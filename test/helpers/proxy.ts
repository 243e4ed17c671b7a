/**
 * A TCP proxy for tests that cut connections: every connection to it is forwarded to
 * the target, and {@link CuttingProxy.cut} ends all of them at once (both sockets
 * destroyed, as when a firewall drops a flow). With `cutAfterBytes`, it cuts by itself
 * each time the bytes received (both directions, all connections) pass a threshold: the
 * chunk that crosses it is not forwarded, so bytes in flight are lost, as in a real drop.
 */
import * as net from 'node:net';

/** A running proxy. */
export interface CuttingProxy {
  /** The port to connect to instead of the target's. */
  readonly port: number;
  /** Cuts made so far. */
  readonly cuts: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Bytes forwarded so far, both directions. */
  readonly bytes: number;
  /** Ends every open connection now. */
  cut(): void;
  /** While refusing, new connections are closed at once (the network is down). */
  refuse(on: boolean): void;
  /** Stops the proxy and ends its connections. */
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 to `target` (a port on 127.0.0.1). */
export async function startProxy(target: number, o: { cutAfterBytes?: readonly number[] } = {}): Promise<CuttingProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const thresholds = [...(o.cutAfterBytes ?? [])].sort((a, b) => a - b);
  let cuts = 0;
  let connections = 0;
  let bytes = 0;
  let refusing = false;
  const cut = () => {
    cuts++;
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    pairs.clear();
  };
  /** Counts a chunk; true when it crosses the next threshold: the cut then falls before it is forwarded (it is lost). */
  const crosses = (n: number): boolean => {
    bytes += n;
    if (thresholds.length === 0 || bytes < (thresholds[0] as number)) return false;
    thresholds.shift(); // one cut per chunk: thresholds a chunk passes together cut at the next chunks
    return true;
  };
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    connections++;
    const upstream = net.connect(target, '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('data', (d: Buffer) => {
      if (crosses(d.length)) return cut();
      if (!upstream.write(d)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.on('data', (d: Buffer) => {
      if (crosses(d.length)) return cut();
      if (!client.write(d)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    get cuts() {
      return cuts;
    },
    get connections() {
      return connections;
    },
    get bytes() {
      return bytes;
    },
    cut,
    refuse(on: boolean) {
      refusing = on;
    },
    close() {
      cut();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
