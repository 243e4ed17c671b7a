/**
 * `koppel/agreement`: linking agreements and run receipts (docs/agreement.md).
 *
 * - `parseAgreementFile`, `agreementHash`, `canonicalJson`, `agreementParty`: the format (`agreement.ts`).
 * - `signAgreement`, `agreementStatus`, `requireRunnable`: signing with a party's TLS key and the
 *   check before a run (`verify.ts`).
 * - `exchangeReceipts`, `multiSessionReceipt`, `verifyReceipt`, `receiptHash`: receipts (`receipt.ts`);
 *   `exchangeOprfReceipt`, `answerOprfReceipt`: the OPRF client's and service's sides of a run's receipt.
 *
 * @packageDocumentation
 */
export {
  AGREEMENT_FORMAT,
  AGREEMENT_ROLES,
  agreementHash,
  agreementParty,
  canonicalJson,
  parseAgreementFile,
  type Agreement,
  type AgreementFile,
  type AgreementParty,
  type AgreementProtocol,
  type AgreementSignature,
} from './agreement.js';
export { agreementStatus, requireRunnable, signAgreement, type AgreementStatus } from './verify.js';
export { certificateIdentity, type Signer } from './signature.js';
export {
  answerOprfReceipt,
  countersignReceipt,
  decodeSignedReceipt,
  exchangeOprfReceipt,
  exchangeReceipts,
  multiSessionReceipt,
  receiptHash,
  verifyReceipt,
  type ReceiptBody,
  type ReceiptCheck,
  type ReceiptFile,
  type SessionEntry,
  type SignedReceipt,
} from './receipt.js';
