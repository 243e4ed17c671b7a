/**
 * The raw libsodium WebAssembly module ships without types; src/group/sodium.ts
 * declares the few functions koppel calls.
 *
 * @internal
 */
declare module 'libsodium-sumo' {
  const factory: (options: object) => Promise<unknown>;
  export default factory;
}
