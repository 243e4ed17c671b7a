/**
 * `koppel/transport`: channels between parties. In memory (`createMemoryChannelPair`),
 * over mutual TLS or plain TCP (`listen`, `connect`); every channel names its peer
 * (`PeerIdentity`); `recordingChannel` records what crosses the wire, for audits.
 *
 * @packageDocumentation
 */
export { createMemoryChannelPair, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_IDLE_TIMEOUT_MS, type Channel, type ChannelOptions } from './channel.js';
export {
  listen,
  connect,
  prepareTls,
  DEFAULT_LISTENER_LIMITS,
  type ListenOptions,
  type ListenerLimits,
  type ListenerEvent,
  type ConnectOptions,
  type Listener,
  type Security,
  type TlsOptions,
} from './net.js';
export { recordingChannel, type TranscriptEntry } from './transcript.js';
export { normalisePeerPolicy, type PeerIdentity, type PeerPin, type PeerPolicy, type NormalisedPeerPin } from './peer.js';
