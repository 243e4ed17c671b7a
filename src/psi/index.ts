/**
 * `koppel/psi`: ECDH private set intersection (docs/protocols/psi.md). `psiServer` and
 * `psiClient` over a `Channel`, in intersection, cardinality or payload mode, and their
 * CSV forms.
 *
 * @packageDocumentation
 */
export { psiClient, psiServer, DEFAULT_MAX_CLIENT_ELEMENTS } from './psi.js';
export type { PsiClientOptions, PsiServerOptions, PsiCommonOptions, PsiClientResult, PsiServerResult, PayloadItem, PsiProgress, PsiPhase } from './psi.js';
export { PSI_MODES, type PsiMode } from './messages.js';
export { openPsiServerCsv, openPsiClientCsv, writePsiMatches, psiMatchCount, payloadColumnNames, PAYLOAD_PREFIX } from './csv.js';
export type { PsiCsvOptions, PsiServerCsvOptions, PsiClientCsvOptions, PsiCsvStats, PsiServerCsv, PsiClientCsv, PsiMatchesOptions } from './csv.js';
