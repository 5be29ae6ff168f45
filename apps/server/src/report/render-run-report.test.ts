import { describe, expect, test } from 'vitest';
import { renderRunReport } from './render-run-report.ts';
import { buildRunReport, type ReportedRun } from './run-report.ts';

const run = (overrides: Partial<ReportedRun>): ReportedRun => ({
  runId: 'r-1',
  name: 'nightly',
  state: 'succeeded',
  submittedBy: 'token:ci',
  submittedAt: '2026-11-22T10:00:00.000Z',
  finishedAt: '2026-11-22T10:00:12.500Z',
  itemsTotal: 3,
  itemsSucceeded: 3,
  itemsFailed: 0,
  itemsReused: 1,
  ...overrides,
});
const hostile = '<script>alert("x")</script> "quoted", a|b\r\nsecond line & <img src=x onerror=alert(1)>';
const report = buildRunReport(
  [
    run({ runId: 'r-3', name: hostile, state: 'running', finishedAt: null, itemsSucceeded: 1, itemsReused: 0 }),
    run({ runId: 'r-2', state: 'failed', itemsSucceeded: 1, itemsFailed: 2, finishedAt: '2026-11-22T11:02:03.000Z' }),
    run({ spend: { costUsd: 0.0125, tokens: 4_200, calls: 3, unknownCost: 1 } }),
  ],
  { generatedAt: '2026-11-23T00:00:00.000Z', since: '2026-11-22T00:00:00.000Z' },
);

/** A strict RFC 4180 reader, written apart from the writer: fields, quotes, CRLF records. */
function readCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let index = 0;
  while (index < text.length) {
    let field = '';
    if (text[index] === '"') {
      index++;
      for (;;) {
        if (index >= text.length) throw new Error('unterminated quoted field');
        if (text[index] === '"' && text[index + 1] === '"') ((field += '"'), (index += 2));
        else if (text[index] === '"') {
          index++;
          break;
        } else field += text[index++];
      }
    } else {
      while (index < text.length && text[index] !== ',' && text[index] !== '\r') {
        if (text[index] === '"' || text[index] === '\n') throw new Error(`bare ${JSON.stringify(text[index])} in an unquoted field at ${index}`);
        field += text[index++];
      }
    }
    record.push(field);
    if (text[index] === ',') index++;
    else if (text.startsWith('\r\n', index)) {
      records.push(record);
      record = [];
      index += 2;
    } else throw new Error(`expected , or CRLF at ${index}`);
  }
  return records;
}

describe('buildRunReport', () => {
  test('totals by state and items, and durations of finished runs only', () => {
    expect(report.totals).toEqual({
      runs: 3,
      byState: { queued: 0, running: 1, 'awaiting-budget': 0, succeeded: 1, failed: 1, cancelled: 0 },
      itemsTotal: 9,
      itemsSucceeded: 5,
      itemsFailed: 2,
      itemsReused: 2,
      costUsd: 0.0125,
      tokens: 4_200,
    });
    expect(report.runs.map((row) => row.durationMs)).toEqual([null, 3_723_000, 12_500]);
  });
});

describe('renderRunReport', () => {
  test('json is the report itself', () => {
    expect(JSON.parse(renderRunReport(report, 'json'))).toEqual(report);
  });

  test('csv is RFC 4180: quotes, commas, CR and LF inside a name come back exactly; totals first', () => {
    const records = readCsv(renderRunReport(report, 'csv'));
    expect(records[0]).toEqual([
      'run',
      'name',
      'state',
      'submitted by',
      'submitted',
      'finished',
      'duration (s)',
      'items',
      'succeeded',
      'failed',
      'reused',
      'cost (USD)',
      'tokens',
    ]);
    expect(records[1]).toEqual([
      'total',
      expect.stringContaining('3 runs (1 running, 1 succeeded, 1 failed)'),
      '',
      '',
      '',
      '',
      '',
      '9',
      '5',
      '2',
      '2',
      '0.0125',
      '4200',
    ]);
    expect(records[1]![1]).toContain('model calls: $0.0125, 4200 tokens');
    expect(records.slice(2).map((record) => record[1])).toEqual([hostile, 'nightly', 'nightly']);
    expect(records[2]).toEqual(['r-3', hostile, 'running', 'token:ci', '2026-11-22T10:00:00.000Z', '', '', '3', '1', '0', '0', '', '']);
    expect(records[3]![6]).toBe('3723');
    // A run's spend: its dollars (a "+" when some call's cost is unknown) and tokens; none for a run without model calls.
    expect(records[4]!.slice(11)).toEqual(['0.0125+', '4200']);
    expect(records.every((record) => record.length === 13)).toBe(true);
  });

  test('csv shows a name a spreadsheet would run as a formula as text: it starts with an apostrophe', () => {
    const formulas = ['=HYPERLINK("http://x")', '+1+1', '-2+3', '@SUM(A1)', '\tindented'];
    const rows = readCsv(
      renderRunReport(
        buildRunReport(
          formulas.map((name, index) => run({ runId: `r-${index}`, name })),
          { generatedAt: '2026-11-23T00:00:00.000Z' },
        ),
        'csv',
      ),
    );
    expect(rows.slice(2).map((record) => record[1])).toEqual(formulas.map((name) => `'${name}`));
    expect(rows[2]![7]).toBe('3');
  });

  test('md is a table whose every row has its thirteen cells, whatever a name holds, with totals above it', () => {
    const text = renderRunReport(report, 'md');
    const lines = text.split('\n');
    const table = lines.filter((line) => line.startsWith('|'));
    expect(table).toHaveLength(2 + 3);
    // Cells split on pipes that are not backslash-escaped.
    for (const line of table) expect(line.split(/(?<!\\)\|/).length - 2).toBe(13);
    expect(lines.findIndex((line) => line.startsWith('**Totals:**'))).toBeLessThan(lines.indexOf(table[0]!));
    expect(text).not.toMatch(/(?<!\\)<(script|img)/);
    expect(table[2]).toContain('\\<script\\>alert("x")\\</script\\>');
    expect(table[3]).toContain('1 h 02 min');
  });

  test('md, html and json say why each failed item failed (code, exit code or signal, rule, message), escaped; csv stays one table', () => {
    const failed = buildRunReport(
      [
        run({
          runId: 'r-9',
          state: 'failed',
          itemsSucceeded: 0,
          itemsFailed: 2,
          failedItems: [
            { itemId: 'build', code: 'CAIRN_EXIT_NONZERO', message: 'The runtime exited with code 3.', exitCode: 3, signal: null },
            {
              itemId: 'escape',
              code: 'CAIRN_PAYLOAD_INVALID',
              message: 'The symlink "l" -> "/etc/passwd" <escapes>.',
              exitCode: 0,
              signal: null,
              rule: 'symlink-escape',
            },
          ],
        }),
        run({}),
      ],
      { generatedAt: '2026-11-23T00:00:00.000Z' },
    );
    const markdown = renderRunReport(failed, 'md');
    expect(markdown).toContain('## Why items failed');
    expect(markdown).toContain('- r-9 build: CAIRN\\_EXIT\\_NONZERO (exit 3): The runtime exited with code 3.');
    expect(markdown).toContain('- r-9 escape: CAIRN\\_PAYLOAD\\_INVALID (exit 0; rule symlink-escape): The symlink "l" -\\> "/etc/passwd" \\<escapes\\>.');
    const page = renderRunReport(failed, 'html');
    expect(page).toContain(
      '<li>r-9 escape: CAIRN_PAYLOAD_INVALID (exit 0; rule symlink-escape): The symlink &quot;l&quot; -&gt; &quot;/etc/passwd&quot; &lt;escapes&gt;.</li>',
    );
    expect(JSON.parse(renderRunReport(failed, 'json')).runs[0].failedItems).toEqual(failed.runs[0]!.failedItems);
    expect(failed.runs[1]).not.toHaveProperty('failedItems');
    expect(readCsv(renderRunReport(failed, 'csv')).every((record) => record.length === 13)).toBe(true);
  });

  test('html escapes everything: a name with <script> or an onerror attribute comes out as inert text', () => {
    const page = renderRunReport(report, 'html');
    const tags = new Set([...page.matchAll(/<\/?([a-zA-Z!][^\s>/]*)/g)].map((match) => match[1]!.toLowerCase()));
    expect([...tags].sort()).toEqual([
      '!doctype',
      'body',
      'h1',
      'head',
      'html',
      'meta',
      'p',
      'strong',
      'style',
      'table',
      'tbody',
      'td',
      'th',
      'thead',
      'title',
      'tr',
    ]);
    expect(page).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &quot;quoted&quot;, a|b\r\nsecond line &amp; &lt;img src=x onerror=alert(1)&gt;');
    expect(page).toContain("default-src 'none'");
    const decoded = page.replace(/&(lt|gt|quot|#39|amp);/g, (_entity, name: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[name]!);
    expect(decoded).toContain(hostile);
  });
});
