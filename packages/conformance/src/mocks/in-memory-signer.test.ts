import { generateKeyPairSync } from 'node:crypto';
import { describeSigner } from '../signer/describe-signer.ts';
import { createInMemorySigner } from './in-memory-signer.ts';

// The oracles derive the public key from the private key the test holds, not from the signer.
const ed25519 = generateKeyPairSync('ed25519');
describeSigner({
  name: 'in-memory ed25519',
  create: () => createInMemorySigner({ algorithm: 'ed25519', privateKey: ed25519.privateKey }),
  oracle: () => ({ publicKey: () => new Uint8Array(ed25519.publicKey.export({ format: 'der', type: 'spki' })) }),
});

const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
describeSigner({
  name: 'in-memory ecdsa p-256',
  create: () => createInMemorySigner({ algorithm: 'ecdsa-p256-sha256', privateKey: p256.privateKey }),
  oracle: () => ({ publicKey: () => new Uint8Array(p256.publicKey.export({ format: 'der', type: 'spki' })) }),
});
