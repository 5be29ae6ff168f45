// The endpoint's kubelet renders annotations as fieldpath.FormatMap does, and the worker's wait mode
// reads them back: every value, escapes and all, survives the round trip.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDownwardAnnotations } from '@cairn/fargate';
import { expect, test } from 'vitest';
import { formatMap, unsupportedDownwardFields, writeDownwardApiVolume } from './downward-api-volume.ts';

test('annotations are written sorted, Go-quoted, and read back by the worker exactly', () => {
  const annotations = {
    'z.io/last': 'plain',
    'cairn.dev/execution-id': 'run-1/build/1',
    'a.io/escapes': 'quote " backslash \\ newline \n tab \t nul \u0000 bell \u0007 é 😀 line-separator \u2028',
  };
  expect(formatMap({ b: '1', a: 'x"y' })).toBe('a="x\\"y"\nb="1"');
  const folder = mkdtempSync(join(tmpdir(), 'cairn-downward-'));
  try {
    const source = {
      items: [
        { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
        { path: 'meta/name', fieldRef: { fieldPath: 'metadata.name' } },
      ],
    };
    writeDownwardApiVolume(folder, source, { name: 'pod-1', namespace: 'cairn', uid: 'u-1', annotations });
    const text = readFileSync(join(folder, 'annotations'), 'utf8');
    expect(text.split('\n').map((line) => line.split('=')[0])).toEqual(['a.io/escapes', 'cairn.dev/execution-id', 'z.io/last']);
    expect(text).toContain('\\u2028');
    expect(parseDownwardAnnotations(text)).toEqual(annotations);
    expect(readFileSync(join(folder, 'meta/name'), 'utf8')).toBe('pod-1');
    // Rewritten whole when they change.
    writeDownwardApiVolume(folder, source, { name: 'pod-1', namespace: 'cairn', uid: 'u-1', annotations: { only: 'this' } });
    expect(readFileSync(join(folder, 'annotations'), 'utf8')).toBe('only="this"');
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  expect(unsupportedDownwardFields({ items: [{ path: 'cpu' }, { path: 'ip', fieldRef: { fieldPath: 'status.podIP' } }] })).toEqual([
    'cpu (resourceFieldRef)',
    'status.podIP',
  ]);
});
