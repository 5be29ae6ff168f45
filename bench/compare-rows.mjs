// `node bench/compare-rows.mjs RESULTS BASE HEAD`: reads the `pnpm bench --json` outputs that
// bench/compare-commits.sh wrote to RESULTS (files `<commit>.<bench>.<round>.json`) and prints one
// table: each row's median over the rounds for BASE and for HEAD, and HEAD's over BASE's. For a
// row whose larger value is better (a rate, `>=` goal), a ratio below 1 is the regression.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [results, base, head] = process.argv.slice(2);
if (!results || !base || !head) {
  process.stderr.write('usage: node bench/compare-rows.mjs RESULTS BASE HEAD\n');
  process.exit(2);
}

/** name -> { unit, goal, values: { [commit]: number[] } }, in the order rows first appear. */
const rows = new Map();
for (const file of readdirSync(results).sort()) {
  const commit = file.split('.')[0];
  if (commit !== base && commit !== head) continue;
  const text = readFileSync(join(results, file), 'utf8').trim();
  // A bench run that failed before printing leaves an empty file.
  if (!text) continue;
  for (const row of JSON.parse(text)) {
    if (!rows.has(row.name)) rows.set(row.name, { unit: row.unit, goal: row.goal, values: { [base]: [], [head]: [] } });
    rows.get(row.name).values[commit].push(row.value);
  }
}

const median = (values) => {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const format = (value) => {
  if (value === undefined) return '-';
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(3)).toString();
};

const header = ['benchmark', 'unit', `${base.slice(0, 12)} (base)`, `${head.slice(0, 12)} (head)`, 'head / base', 'rounds'];
process.stdout.write(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|\n`);
for (const [name, { unit, values }] of rows) {
  const before = median(values[base]);
  const after = median(values[head]);
  const ratio = before !== undefined && after !== undefined && before !== 0 ? (after / before).toFixed(2) : '-';
  const cells = [name, unit, format(before), format(after), ratio, `${values[base].length}/${values[head].length}`];
  process.stdout.write(`| ${cells.join(' | ')} |\n`);
}
