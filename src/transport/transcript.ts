/**
 * Recording what crosses the wire, for auditors and for the privacy tests: a channel
 * wrapper that keeps a copy of every message in both directions.
 *
 * @packageDocumentation
 */
import type { Channel } from './channel.js';

/** One recorded message. */
export interface TranscriptEntry {
  /** `sent` by this party or `received` from the peer. */
  readonly direction: 'sent' | 'received';
  /** The message bytes exactly as they crossed the channel. */
  readonly bytes: Uint8Array;
}

/** Wraps `channel` so that every message is appended to `transcript`. */
export function recordingChannel(channel: Channel, transcript: TranscriptEntry[]): Channel {
  return {
    ...(channel.peer ? { peer: channel.peer } : {}),
    async send(message) {
      transcript.push({ direction: 'sent', bytes: new Uint8Array(message) });
      await channel.send(message);
    },
    async receive() {
      const m = await channel.receive();
      transcript.push({ direction: 'received', bytes: new Uint8Array(m) });
      return m;
    },
    close: () => channel.close(),
  };
}
