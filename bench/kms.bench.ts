// The KMS variants against the key-file ones, with KMS on loopback (the test endpoint: real
// P-256 and AES-GCM, JSON 1.1 over HTTP, no network latency, so these are floors; AWS adds a
// round trip of some milliseconds per call): checkpoint signing latency, secrets encrypted and
// decrypted per second, and an engine fan-out with each signer, as the server composes them: a key
// file signs manifests itself, a KMS key through a delegated manifest key (ADR 0020).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CipherV1, SignerV1 } from '@cairn/core';
import { signCheckpoint } from '@cairn/audit';
import { createInMemoryStorageProvider } from '@cairn/conformance/mocks';
import { createEngine } from '@cairn/engine';
import { createKmsCipher, createKmsSigner } from '@cairn/kms';
import { KmsTestEndpoint } from '@cairn/kms/testing';
import { createLocalCipher, createLocalSigner } from '@cairn/local';
import { InstantExecutor } from './instant-executor.ts';
import { atLeast, atMost, atMostTimes, recorded, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function signingLatencies(signer: SignerV1, rounds: number): Promise<number[]> {
  await signer.keyId();
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const checkpoint = { origin: 'cairn:bench', treeSize: round + 1, rootHash: 'ab'.repeat(32), time: new Date().toISOString() };
    times.push(await timeMilliseconds(() => signCheckpoint(checkpoint, signer)));
  }
  return times;
}

/** Encryptions, then decryptions of them, per second, `parallel` at a time (as the engine reveals one run's secrets). */
async function cipherRates(cipher: CipherV1, count: number, parallel: number): Promise<{ encrypt: number; decrypt: number }> {
  const plaintext = new TextEncoder().encode('ghp_0123456789abcdefghijklmnopqrstuvwxyz');
  const envelopes: Awaited<ReturnType<CipherV1['encrypt']>>[] = [];
  const encryptMs = await timeMilliseconds(async () => {
    for (let start = 0; start < count; start += parallel) {
      envelopes.push(
        ...(await Promise.all(
          Array.from({ length: Math.min(parallel, count - start) }, (_, index) => cipher.encrypt(plaintext, { secret: `S${start + index}`, version: '1' })),
        )),
      );
    }
  });
  const decryptMs = await timeMilliseconds(async () => {
    for (let start = 0; start < count; start += parallel) {
      await Promise.all(
        envelopes.slice(start, start + parallel).map((envelope, index) => cipher.decrypt(envelope, { secret: `S${start + index}`, version: '1' })),
      );
    }
  });
  return { encrypt: Math.round(count / (encryptMs / 1000)), decrypt: Math.round(count / (decryptMs / 1000)) };
}

async function fanOutWall(signer: SignerV1, items: number, manifestSigner: 'signer' | 'delegated' = 'signer'): Promise<number> {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-kms-'));
  const engine = createEngine({
    database: join(directory, 'engine.db'),
    executors: { instant: new InstantExecutor() },
    storage: createInMemoryStorageProvider(),
    signer,
    manifestSigner,
    concurrency: 1_000,
    reconcileIntervalMs: 60_000,
  });
  try {
    engine.start();
    return await timeMilliseconds(async () => {
      const { runId } = engine.submit(
        {
          version: 1,
          name: 'bench',
          items: Array.from({ length: items }, (_, index) => ({ id: `item-${index}`, runtime: { kind: 'command' as const, argv: ['true'] } })),
        },
        { actor: { kind: 'system', id: 'bench', via: 'engine' } },
      );
      const run = await engine.waitForRun(runId);
      if (run.state !== 'succeeded') throw new Error(`the benchmark run ended ${run.state}`);
    });
  } finally {
    await engine.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

export default async function kmsBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const endpoint = await KmsTestEndpoint.start();
  const directory = mkdtempSync(join(tmpdir(), 'cairn-bench-kms-keys-'));
  try {
    const credentials = { client: endpoint.client() };
    const kmsSigner = createKmsSigner({ keyId: endpoint.createKey('ECC_NIST_P256').keyId, ...credentials });
    const localSigner = createLocalSigner({ keyFile: join(directory, 'signing.pem'), create: true });
    log('  checkpoint signing: KMS on loopback vs key file');
    await signingLatencies(kmsSigner, 20);
    await signingLatencies(localSigner, 20);
    const kmsSign = median(await signingLatencies(kmsSigner, 200));
    const localSign = median(await signingLatencies(localSigner, 200));

    log('  secrets: KMS data keys vs key file');
    const kmsCipher = createKmsCipher({ keyId: endpoint.createKey('SYMMETRIC_DEFAULT').keyId, ...credentials });
    const localCipher = createLocalCipher({ keyFile: join(directory, 'cipher.key'), create: true });
    const kmsRates = await cipherRates(kmsCipher, 1_000, 16);
    const localRates = await cipherRates(localCipher, 10_000, 16);

    log('  engine fan-out of 1,000 items: KMS signer vs key-file signer');
    await fanOutWall(localSigner, 200);
    const localFanOut = await fanOutWall(localSigner, 1_000);
    const signsBefore = endpoint.count('Sign');
    const kmsFanOut = await fanOutWall(kmsSigner, 1_000, 'delegated');
    const kmsFanOutSigns = endpoint.count('Sign') - signsBefore;
    const localFanOutRow = recorded('kms.engine-fanout-1000.local-signer.wall-ms', Math.round(localFanOut), 'ms');

    const round3 = (value: number) => Math.round(value * 1000) / 1000;
    return [
      atMost('kms.checkpoint-sign.loopback.p50-ms', round3(kmsSign), 'ms', 10),
      recorded('kms.checkpoint-sign.key-file.p50-ms', round3(localSign), 'ms'),
      atLeast('kms.cipher.encrypt-per-s', kmsRates.encrypt, 'ops/s', 200),
      atLeast('kms.cipher.decrypt-per-s', kmsRates.decrypt, 'ops/s', 200),
      recorded('kms.cipher.key-file.encrypt-per-s', localRates.encrypt, 'ops/s'),
      recorded('kms.cipher.key-file.decrypt-per-s', localRates.decrypt, 'ops/s'),
      localFanOutRow,
      // On a KMS signer the engine signs manifests with a delegated key, as the server runs it: KMS
      // signs the delegation once and the checkpoints, never an item's manifest (one Sign per item
      // would bound the fan-out by Sign throughput: on AWS the account's KMS quota for ECC keys).
      // The goal: the fan-out within 1.5x of the key file's.
      atMostTimes('kms.engine-fanout-1000.kms-signer.wall-ms', Math.round(kmsFanOut), 'ms', localFanOutRow, 1.5),
      atMost('kms.engine-fanout-1000.kms-signer.sign-calls', kmsFanOutSigns, 'calls', 10),
    ];
  } finally {
    await endpoint.stop();
    rmSync(directory, { recursive: true, force: true });
  }
}
