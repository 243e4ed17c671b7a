/**
 * `koppel/session`: the session layer every protocol runs on (HELLO with field-by-field
 * parameter checks, immutable sessions with the authenticated peer and a transcript
 * hash, chunked streams, and one place where a run's resources are released).
 *
 * @packageDocumentation
 */
export { openSession, runSession, Session, SessionScope, type RunOptions, type SessionOptions } from './session.js';
export { checkHello, type HelloBase, type HelloExpectation, type SharedParam } from './hello.js';
export { Abort, ABORT, checkChunk, Done, HELLO, Link, MAX_CHUNK_ITEMS, type ProtocolSpec, type StreamSpec } from './link.js';
export { TranscriptHash, type TranscriptSide } from './transcript.js';
export type { PeerIdentity } from '../transport/peer.js';
