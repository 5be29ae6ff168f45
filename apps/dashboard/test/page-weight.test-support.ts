import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * What the built dashboard weighs: its JavaScript files and their gzipped size (level 9, what a
 * server or CDN compressing it sends). Used by the budget test and the page-weight benchmark.
 */
export function pageWeight(dist: string): { javascriptFiles: string[]; javascriptBytes: number; gzippedJavascriptBytes: number } {
  const assets = join(dist, 'assets');
  if (!existsSync(join(dist, 'index.html'))) throw new Error(`${dist} has no index.html: build the dashboard first (pnpm --filter @cairn/dashboard build).`);
  const javascriptFiles = readdirSync(assets).filter((name) => name.endsWith('.js'));
  let javascriptBytes = 0;
  let gzippedJavascriptBytes = 0;
  for (const name of javascriptFiles) {
    const bytes = readFileSync(join(assets, name));
    javascriptBytes += bytes.byteLength;
    gzippedJavascriptBytes += gzipSync(bytes, { level: 9 }).byteLength;
  }
  return { javascriptFiles, javascriptBytes, gzippedJavascriptBytes };
}
