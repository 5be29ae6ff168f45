// Test support, published so integrators can test KMS-backed code the way Cairn tests its own: a
// KMS endpoint on loopback that speaks the AWS JSON 1.1 protocol to the real SDK client, with real
// cryptography (P-256 digest signing, AES-GCM data keys), AWS's error shapes and injectable faults.
export { KmsTestEndpoint } from './kms-endpoint.ts';
export type { InjectedFault, KmsOperationName, RecordedRequest, TestKeySpec } from './kms-endpoint.ts';
