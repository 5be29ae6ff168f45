// The shared RFC 6962 known-answer vectors (transparency-dev/merkle testdata), read in place from
// ../shared/testdata/merkle beside the repository (or CAIRN_MERKLE_VECTORS); never copied in.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { isCairnError } from '@cairn/protocol';
import { MerkleLog } from './merkle-log.ts';
import { verifyConsistency } from './verify-consistency.ts';
import { verifyInclusion } from './verify-inclusion.ts';

function repositoryRoot(): string {
  let directory = import.meta.dirname;
  while (!existsSync(join(directory, 'pnpm-workspace.yaml'))) {
    const parent = dirname(directory);
    if (parent === directory) throw new Error(`No pnpm-workspace.yaml above ${import.meta.dirname}.`);
    directory = parent;
  }
  return directory;
}

const vectorsDirectory = process.env['CAIRN_MERKLE_VECTORS'] ?? join(repositoryRoot(), '..', 'shared', 'testdata', 'merkle');
const haveVectors = existsSync(vectorsDirectory);

function vectorFiles(kind: 'inclusion' | 'consistency'): string[] {
  const found: string[] = [];
  const visit = (directory: string) => {
    for (const name of readdirSync(directory).sort()) {
      const path = join(directory, name);
      if (statSync(path).isDirectory()) visit(path);
      else if (name.endsWith('.json')) found.push(path);
    }
  };
  visit(join(vectorsDirectory, kind));
  return found;
}

const bytes = (base64: string | null) => new Uint8Array(Buffer.from(base64 ?? '', 'base64'));

/** Rejection is `false` or a CairnError; anything else thrown is a bug. */
function accepts(verify: () => boolean): boolean {
  try {
    return verify();
  } catch (error) {
    if (isCairnError(error, 'CAIRN_AUDIT_PROOF_INVALID')) return false;
    throw error;
  }
}

const vectorsTitle = haveVectors
  ? `RFC 6962 vectors in ${vectorsDirectory}`
  : `RFC 6962 vectors skipped: ${vectorsDirectory} is absent (set CAIRN_MERKLE_VECTORS to their folder)`;

describe.skipIf(!haveVectors)(vectorsTitle, () => {
  interface InclusionVector {
    leafIdx: number;
    treeSize: number;
    root: string;
    leafHash: string;
    proof: string[] | null;
    desc: string;
    wantErr: boolean;
  }
  interface ConsistencyVector {
    size1: number;
    size2: number;
    root1: string;
    root2: string;
    proof: string[] | null;
    desc: string;
    wantErr: boolean;
  }

  const inclusion = haveVectors ? vectorFiles('inclusion') : [];
  const consistency = haveVectors ? vectorFiles('consistency') : [];

  test('the folder holds both kinds of vectors', () => {
    expect(inclusion.length).toBeGreaterThan(50);
    expect(consistency.length).toBeGreaterThan(50);
  });

  test.each(inclusion.map((path) => [path.slice(vectorsDirectory.length + 1), path]))('%s', (_name, path) => {
    const vector = JSON.parse(readFileSync(path, 'utf8')) as InclusionVector;
    const verdict = accepts(() =>
      verifyInclusion(vector.leafIdx, vector.treeSize, bytes(vector.leafHash), (vector.proof ?? []).map(bytes), bytes(vector.root)),
    );
    expect(verdict, vector.desc).toBe(!vector.wantErr);
  });

  test.each(consistency.map((path) => [path.slice(vectorsDirectory.length + 1), path]))('%s', (_name, path) => {
    const vector = JSON.parse(readFileSync(path, 'utf8')) as ConsistencyVector;
    const verdict = accepts(() => verifyConsistency(vector.size1, vector.size2, (vector.proof ?? []).map(bytes), bytes(vector.root1), bytes(vector.root2)));
    expect(verdict, vector.desc).toBe(!vector.wantErr);
  });

  test('the log produces the vectors’ own happy-path proofs from the 8 classic leaves', () => {
    const log = MerkleLog.open();
    for (const hex of ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f']) log.append(Buffer.from(hex, 'hex'));
    for (const path of inclusion.filter((file) => file.endsWith('happy-path.json'))) {
      const vector = JSON.parse(readFileSync(path, 'utf8')) as InclusionVector;
      if (vector.treeSize > 8) continue;
      expect(Buffer.from(log.rootHash(vector.treeSize)).toString('base64')).toBe(vector.root);
      expect(log.inclusionProof(vector.leafIdx, vector.treeSize).map((hash) => Buffer.from(hash).toString('base64'))).toEqual(vector.proof ?? []);
    }
    for (const path of consistency.filter((file) => file.endsWith('happy-path.json'))) {
      const vector = JSON.parse(readFileSync(path, 'utf8')) as ConsistencyVector;
      if (vector.size2 > 8 || vector.size1 === 0) continue;
      expect(log.consistencyProof(vector.size1, vector.size2).map((hash) => Buffer.from(hash).toString('base64'))).toEqual(vector.proof ?? []);
    }
  });
});

test('the 8 classic leaves have the published root', () => {
  const log = MerkleLog.open();
  for (const hex of ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f']) log.append(Buffer.from(hex, 'hex'));
  expect(Buffer.from(log.rootHash()).toString('hex')).toBe('5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328');
});
