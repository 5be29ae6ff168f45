import { signCheckpoint } from '../checkpoint/checkpoint-envelope.ts';
import { expect, test } from 'vitest';
import { createRunEvidence } from '../bundle/run-evidence.test-support.ts';
import { CompactRange } from '../merkle/compact-range.ts';
import { MerkleLog } from '../merkle/merkle-log.ts';
import { exportLogNdjson, readLogNdjson } from './log-ndjson.ts';
import { verifyLog } from './verify-log.ts';
import { readCheckpoint } from '../bundle/build-evidence-bundle.ts';

test('the compact range computes the same roots as the log', () => {
  const log = MerkleLog.open();
  const range = new CompactRange();
  for (let index = 0; index < 100; index++) {
    const leaf = new TextEncoder().encode(`leaf ${index}`);
    log.append(leaf);
    range.append(log.leafHash(index));
    expect(range.rootHash()).toEqual(log.rootHash());
  }
});

test('NDJSON export filters by action, entity kind, outcome, actor, run and time, with leaf indexes', async () => {
  const { allEntries } = await createRunEvidence();
  const lines = (filter: Parameters<typeof exportLogNdjson>[1]) => [...exportLogNdjson(allEntries, filter)];
  expect(lines({})).toHaveLength(allEntries.length);
  expect(lines({ actions: ['run.submitted'] }).map((line) => JSON.parse(line).entry.runId)).toEqual(['run-0', 'run-1']);
  expect(lines({ runId: 'run-1', entityKinds: ['attempt'] }).map((line) => JSON.parse(line).entry.action)).toEqual(['attempt.dispatched', 'attempt.completed']);
  expect(lines({ outcomes: ['failure'] })).toEqual([]);
  expect(lines({ actors: ['engine'] })).toHaveLength(allEntries.length);
  const [third] = lines({ since: allEntries[2]!.time, until: allEntries[3]!.time });
  expect(JSON.parse(third!)).toEqual({ entry: allEntries[2], leafIndex: 2 });
  expect(lines({ since: allEntries[2]!.time, until: allEntries[3]!.time })).toHaveLength(1);
});

test('a whole-log export verifies against the latest checkpoint; any edit is found', async () => {
  const { allEntries, bundle, signer } = await createRunEvidence();
  const text = [...exportLogNdjson(allEntries)].join('');
  const entries = readLogNdjson(text);
  expect(verifyLog(entries, bundle.checkpoint, [signer.record])).toMatchObject({ valid: true });
  const edited = entries.map((entry, index) => (index === 4 ? { ...entry, outcome: 'failure' as const } : entry));
  expect(verifyLog(edited, bundle.checkpoint, [signer.record])).toMatchObject({ valid: false, detail: expect.stringMatching(/altered/) });
  expect(verifyLog(entries.slice(1), bundle.checkpoint, [signer.record])).toMatchObject({
    valid: false,
    detail: expect.stringMatching(/gap or is out of order/),
  });
  expect(verifyLog(entries.slice(0, -1), bundle.checkpoint, [signer.record])).toMatchObject({ valid: false });
  const untrusted = await signCheckpoint(readCheckpoint(bundle.checkpoint), (await import('../dsse/test-signer.test-support.ts')).createTestSigner().signer);
  expect(verifyLog(entries, untrusted, [signer.record])).toMatchObject({ valid: false, detail: expect.stringMatching(/^checkpoint/) });
  expect(() => readLogNdjson(text.replace('"leafIndex":3', '"leafIndex":4'))).toThrow(/line 4 is not as exported/);
  expect(() => readLogNdjson(`${text}{"entry":{}}\n`)).toThrow(/line \d+: entry: must|line \d+: entry\.seq/);
});
