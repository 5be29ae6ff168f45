/**
 * US dollars as a person reads them, the one spelling the CLI, the server's refusals and the
 * dashboard share: two decimals from a dollar up; below, three significant digits but never fewer
 * than two decimals, so a budget reads `$0.50` and a call's cost `$0.000412` rather than `$0`.
 * It is exported from `@cairn/protocol/format`, an entry that loads no schemas, so that the
 * dashboard's first page and the CLI's start-up can take it without the rest of the package.
 */
export function dollars(usd: number): string {
  if (!Number.isFinite(usd)) return `$${usd}`;
  if (usd < 0) return `-${dollars(-usd)}`;
  if (usd >= 1) return `$${usd.toFixed(2)}`;
  const significant = Number(usd.toPrecision(3));
  // toPrecision can round up to a dollar (0.9999 → 1.00): from there two decimals.
  if (significant >= 1) return `$${significant.toFixed(2)}`;
  const decimals = significant === 0 ? 2 : 2 - Math.floor(Math.log10(significant));
  return `$${significant.toFixed(Math.min(20, Math.max(2, decimals)))}`.replace(/(\.\d\d\d*?)0+$/, '$1');
}
