// Test support, published so integrators can test code that stamps checkpoints the way Cairn
// tests its own: a real RFC 3161 TSA (OpenSSL's `ts -reply`) behind an HTTP handler on loopback,
// with faults a test can switch on (503, rejection, replies to other requests).
export { OpensslTestTsa } from './openssl-tsa-server.ts';
export type { TestTsaBehaviour } from './openssl-tsa-server.ts';
