// The stand-in internet's Python package index: a static PEP 503 "simple" index holding one
// pure-Python wheel built in memory at start, so `pip install --index-url .../simple/` works with
// no PyPI. A project's page links its file with `#sha256=`, which pip checks.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { recordDigest, zip, type ArchiveEntry } from './archives.test-support.ts';

/** The project the index holds, its version and the module it installs. */
export const pipProject = { name: 'stand-in-hello', version: '1.0.0', module: 'stand_in_hello', greeting: 'hello from the stand-in index' } as const;

/** A wheel (PEP 427) of `pipProject`: its file name and bytes. */
export function buildWheel(): { fileName: string; bytes: Buffer } {
  const { name, version, module, greeting } = pipProject;
  const distribution = name.replaceAll('-', '_');
  const info = `${distribution}-${version}.dist-info`;
  const files: ArchiveEntry[] = [
    { path: `${module}/__init__.py`, contents: `GREETING = ${JSON.stringify(greeting)}\n` },
    { path: `${info}/METADATA`, contents: `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\nSummary: A wheel of the stand-in internet\n` },
    { path: `${info}/WHEEL`, contents: 'Wheel-Version: 1.0\nGenerator: cairn-stand-in-internet\nRoot-Is-Purelib: true\nTag: py3-none-any\n' },
  ];
  const record = [...files.map((file) => `${file.path},${recordDigest(file.contents)},${Buffer.byteLength(file.contents)}`), `${info}/RECORD,,`, ''].join('\n');
  return { fileName: `${distribution}-${version}-py3-none-any.whl`, bytes: zip([...files, { path: `${info}/RECORD`, contents: record }]) };
}

/** Answers the index's paths: `/simple/`, `/simple/<project>/` and `/packages/<wheel>`. */
export function createPipIndex(): (request: IncomingMessage, response: ServerResponse) => void {
  const wheel = buildWheel();
  const digest = createHash('sha256').update(wheel.bytes).digest('hex');
  const page = (body: string) => `<!DOCTYPE html>\n<html><body>\n${body}\n</body></html>\n`;
  return (request, response) => {
    const path = new URL(request.url ?? '/', 'http://index').pathname;
    if (path === '/simple/') {
      response.writeHead(200, { 'content-type': 'text/html' }).end(page(`<a href="${pipProject.name}/">${pipProject.name}</a>`));
    } else if (path === `/simple/${pipProject.name}/`) {
      response.writeHead(200, { 'content-type': 'text/html' }).end(page(`<a href="../../packages/${wheel.fileName}#sha256=${digest}">${wheel.fileName}</a>`));
    } else if (path === `/packages/${wheel.fileName}`) {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': wheel.bytes.length }).end(wheel.bytes);
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  };
}
