import type { ReportedFailure, RunReport, RunReportRow } from './run-report.ts';
import { dollars } from '@cairn/protocol/format';

export const reportFormats = ['json', 'md', 'csv', 'html'] as const;
export type ReportFormat = (typeof reportFormats)[number];

/** The columns of every tabular format, in order. */
const columns: readonly {
  readonly title: string;
  readonly value: (run: RunReportRow) => string | number;
  readonly csv?: { readonly title: string; readonly value: (run: RunReportRow) => string | number };
}[] = [
  { title: 'run', value: (run) => run.runId },
  { title: 'name', value: (run) => run.name },
  { title: 'state', value: (run) => run.state },
  { title: 'submitted by', value: (run) => run.submittedBy },
  { title: 'submitted', value: (run) => run.submittedAt },
  { title: 'finished', value: (run) => run.finishedAt ?? '' },
  // For people a readable duration; for a spreadsheet a number.
  {
    title: 'duration',
    value: (run) => (run.durationMs === null ? '' : duration(run.durationMs)),
    csv: { title: 'duration (s)', value: (run) => (run.durationMs === null ? '' : run.durationMs / 1_000) },
  },
  { title: 'items', value: (run) => run.itemsTotal },
  { title: 'succeeded', value: (run) => run.itemsSucceeded },
  { title: 'failed', value: (run) => run.itemsFailed },
  { title: 'reused', value: (run) => run.itemsReused },
  // What its agents' model calls spent; empty for a run that made none (a `+`: some cost is unknown).
  {
    title: 'cost (USD)',
    value: (run) => (run.spend === undefined ? '' : `${run.spend.costUsd}${run.spend.unknownCost > 0 ? '+' : ''}`),
  },
  { title: 'tokens', value: (run) => run.spend?.tokens ?? '' },
];

/**
 * The report as JSON, a Markdown table, CSV (RFC 4180) or a standalone HTML page. Everything a
 * run carries came from whoever submitted it (its name above all), so every format escapes it:
 * CSV quotes, Markdown backslash-escapes, HTML entity-escapes (and the page allows no script).
 */
export function renderRunReport(report: RunReport, format: ReportFormat): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(report, null, 2)}\n`;
    case 'csv':
      return renderCsv(report);
    case 'md':
      return renderMarkdown(report);
    case 'html':
      return renderHtml(report);
  }
}

function totalsLine(report: RunReport): string {
  const { totals } = report;
  const states = Object.entries(totals.byState)
    .filter(([, count]) => count > 0)
    .map(([state, count]) => `${count} ${state}`);
  const spent = totals.tokens > 0 || totals.costUsd > 0 ? `; model calls: ${dollars(totals.costUsd)}, ${totals.tokens} tokens` : '';
  return `${totals.runs} runs${states.length > 0 ? ` (${states.join(', ')})` : ''}; items: ${totals.itemsTotal} total, ${totals.itemsSucceeded} succeeded, ${totals.itemsFailed} failed, ${totals.itemsReused} reused${spent}`;
}

function heading(report: RunReport): string {
  return `Cairn run history${report.since === undefined ? '' : ` since ${report.since}`}, generated ${report.generatedAt}`;
}

/**
 * RFC 4180: CRLF line ends; a field with a quote, comma, CR or LF is quoted, its quotes doubled.
 * Text that a spreadsheet would run as a formula (=, +, -, @, tab, CR first: a run named
 * `=HYPERLINK(...)`) starts with an apostrophe, so it is shown, never evaluated (OWASP's advice).
 */
function csvField(value: string | number): string {
  const text = typeof value === 'string' && /^[=+\-@\t\r]/.test(value) ? `'${value}` : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function renderCsv(report: RunReport): string {
  // The totals are a first row of their own (run "total"), so the file stays one table.
  const { totals } = report;
  const total = [
    'total',
    totalsLine(report),
    '',
    '',
    '',
    '',
    '',
    totals.itemsTotal,
    totals.itemsSucceeded,
    totals.itemsFailed,
    totals.itemsReused,
    totals.costUsd,
    totals.tokens,
  ];
  const rows = [
    columns.map((column) => (column.csv ?? column).title),
    total,
    ...report.runs.map((run) => columns.map((column) => (column.csv ?? column).value(run))),
  ];
  return rows.map((row) => `${row.map(csvField).join(',')}\r\n`).join('');
}

/** CommonMark: any ASCII punctuation that could format, link or open HTML is backslash-escaped; a table cell is one line. */
function markdownCell(value: string | number): string {
  return String(value)
    .replace(/[\\`*_[\]<>|&~!#]/g, '\\$&')
    .replace(/\r\n|\r|\n/g, ' ');
}

function renderMarkdown(report: RunReport): string {
  const lines = [`# ${markdownCell(heading(report))}`, '', `**Totals:** ${markdownCell(totalsLine(report))}`, ''];
  lines.push(`| ${columns.map((column) => column.title).join(' | ')} |`, `|${columns.map(() => ' --- ').join('|')}|`);
  for (const run of report.runs) lines.push(`| ${columns.map((column) => markdownCell(column.value(run))).join(' | ')} |`);
  const failures = failedItems(report);
  if (failures.length > 0) {
    lines.push('', '## Why items failed', '');
    for (const { run, failure } of failures) lines.push(`- ${markdownCell(`${run.runId} ${failure.itemId}: ${failureText(failure)}`)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Every failed item of the report's runs, in the runs' order. */
function failedItems(report: RunReport): { run: RunReportRow; failure: ReportedFailure }[] {
  return report.runs.flatMap((run) => (run.failedItems ?? []).map((failure) => ({ run, failure })));
}

/** `CAIRN_EXIT_NONZERO (exit 3): The runtime exited with code 3.`, with the signal and rule when there are. */
function failureText(failure: ReportedFailure): string {
  const how = [
    failure.exitCode === null ? undefined : `exit ${failure.exitCode}`,
    failure.signal === null ? undefined : `signal ${failure.signal}`,
    failure.rule === undefined ? undefined : `rule ${failure.rule}`,
  ].filter((part) => part !== undefined);
  return `${failure.code}${how.length > 0 ? ` (${how.join('; ')})` : ''}: ${failure.message}`;
}

function html(value: string | number): string {
  return String(value).replace(/[&<>"']/g, (character) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[character]!);
}

function renderHtml(report: RunReport): string {
  const rows = report.runs.map((run) => `<tr>${columns.map((column) => `<td>${html(column.value(run))}</td>`).join('')}</tr>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${html(heading(report))}</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem}table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}</style>
</head>
<body>
<h1>${html(heading(report))}</h1>
<p><strong>Totals:</strong> ${html(totalsLine(report))}</p>
<table>
<thead><tr>${columns.map((column) => `<th>${html(column.title)}</th>`).join('')}</tr></thead>
<tbody>
${rows}
</tbody>
</table>
${failuresHtml(report)}</body>
</html>
`;
}

function failuresHtml(report: RunReport): string {
  const failures = failedItems(report);
  if (failures.length === 0) return '';
  const items = failures.map(({ run, failure }) => `<li>${html(`${run.runId} ${failure.itemId}: ${failureText(failure)}`)}</li>`).join('\n');
  return `<h2>Why items failed</h2>\n<ul>\n${items}\n</ul>\n`;
}

/** `850 ms`, `12.3 s`, `4 min 05 s`, `2 h 03 min`. */
function duration(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1_000);
  if (seconds < 3_600) return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
  return `${Math.floor(seconds / 3_600)} h ${String(Math.floor((seconds % 3_600) / 60)).padStart(2, '0')} min`;
}
