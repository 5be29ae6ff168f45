// The egress record's NDJSON: canonical (keys in RFC 8785 order whatever order the record was built
// in), one object a line, the same bytes for the same records, and readable back.
import { expect, test } from 'vitest';
import { egressRecordsToNdjson, type EgressRecord } from './egress-record.ts';

const allowed: EgressRecord = {
  host: 'registry.npmjs.org',
  port: 443,
  kind: 'connect',
  address: '104.16.1.35',
  decision: 'allowed',
  rule: '*.npmjs.org',
  reason: null,
  message: null,
  wouldAdmit: null,
  bytesIn: 48_213,
  bytesOut: 1_870,
  credential: 'NPM_TOKEN',
  startedAt: '2026-11-28T01:00:00.000Z',
  endedAt: '2026-11-28T01:00:01.250Z',
};
const refused: EgressRecord = {
  endedAt: '2026-11-28T01:00:02.000Z',
  startedAt: '2026-11-28T01:00:02.000Z',
  credential: null,
  bytesOut: 0,
  bytesIn: 0,
  wouldAdmit: 'pastebin.com',
  message: 'pastebin.com:443 is not on the allow-list',
  reason: 'not-allowed',
  rule: null,
  decision: 'refused',
  address: null,
  kind: 'connect',
  port: 443,
  host: 'pastebin.com',
};

test('records serialise to canonical NDJSON, byte for byte', () => {
  expect(egressRecordsToNdjson([allowed, refused])).toBe(
    '{"address":"104.16.1.35","bytesIn":48213,"bytesOut":1870,"credential":"NPM_TOKEN","decision":"allowed","endedAt":"2026-11-28T01:00:01.250Z","host":"registry.npmjs.org","kind":"connect","message":null,"port":443,"reason":null,"rule":"*.npmjs.org","startedAt":"2026-11-28T01:00:00.000Z","wouldAdmit":null}\n' +
      '{"address":null,"bytesIn":0,"bytesOut":0,"credential":null,"decision":"refused","endedAt":"2026-11-28T01:00:02.000Z","host":"pastebin.com","kind":"connect","message":"pastebin.com:443 is not on the allow-list","port":443,"reason":"not-allowed","rule":null,"startedAt":"2026-11-28T01:00:02.000Z","wouldAdmit":"pastebin.com"}\n',
  );
});

test('the field order a record was built in does not change its line, and each line reads back as its record', () => {
  const reordered = Object.fromEntries(Object.entries(allowed).reverse()) as unknown as EgressRecord;
  expect(egressRecordsToNdjson([reordered])).toBe(egressRecordsToNdjson([allowed]));
  const lines = egressRecordsToNdjson([allowed, refused]).split('\n');
  expect(lines.at(-1)).toBe('');
  expect(lines.slice(0, -1).map((line) => JSON.parse(line) as unknown)).toEqual([allowed, refused]);
  expect(egressRecordsToNdjson([])).toBe('');
});
