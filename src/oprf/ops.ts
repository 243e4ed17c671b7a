/**
 * The OPRF service's and client's CPU work as batch operations for {@link TaskPool}:
 * evaluation with the batched proof (service), blinding, and finalisation with proof
 * verification (client).
 *
 * @packageDocumentation
 */
import { FastOprf } from './fast.js';
import type { OprfMode } from './oprf.js';

const loaded = new Map<OprfMode, Promise<FastOprf>>();
function oprfFor(mode: OprfMode): Promise<FastOprf> {
  let p = loaded.get(mode);
  if (!p) {
    p = FastOprf.load(mode);
    loaded.set(mode, p);
  }
  return p;
}

/** The operations, by name. */
export const oprfOps = {
  /** Service: evaluate a packed batch; in VOPRF mode with its batched proof. */
  async evaluate(arg: { mode: OprfMode; secretKey: Uint8Array; blinded: Uint8Array }): Promise<{ evaluated: Uint8Array; proof?: Uint8Array }> {
    const f = await oprfFor(arg.mode);
    const evaluated = f.evaluate(arg.secretKey, arg.blinded);
    return arg.mode === 'voprf' ? { evaluated, proof: f.prove(arg.secretKey, arg.blinded, evaluated) } : { evaluated };
  },
  /** Client: blind a batch of inputs (UTF-8 strings). */
  async blind(arg: { mode: OprfMode; inputs: string[] }): Promise<{ blinds: Uint8Array; blinded: Uint8Array }> {
    const f = await oprfFor(arg.mode);
    const enc = new TextEncoder();
    const { blinds, blinded } = f.blind(arg.inputs.map((x) => enc.encode(x)));
    const packed = new Uint8Array(blinds.length * 32);
    blinds.forEach((b, i) => packed.set(b, i * 32));
    return { blinds: packed, blinded };
  },
  /** Client: verify the proof (VOPRF) and finalise: the first 32 bytes of every output. */
  async finalize(arg: {
    mode: OprfMode;
    inputs: string[];
    blinds: Uint8Array;
    blinded: Uint8Array;
    evaluated: Uint8Array;
    publicKey: Uint8Array;
    proof?: Uint8Array;
  }): Promise<Uint8Array> {
    const f = await oprfFor(arg.mode);
    if (arg.mode === 'voprf') f.verify(arg.publicKey, arg.blinded, arg.evaluated, arg.proof ?? new Uint8Array(0));
    const enc = new TextEncoder();
    const blinds = Array.from({ length: arg.inputs.length }, (_, i) => arg.blinds.subarray(i * 32, i * 32 + 32));
    const outputs = f.finalize(
      arg.inputs.map((x) => enc.encode(x)),
      blinds,
      arg.evaluated,
    );
    arg.blinds.fill(0);
    const packed = new Uint8Array(outputs.length * 32);
    outputs.forEach((o, i) => packed.set(o.subarray(0, 32), i * 32));
    return packed;
  },
};
