// The stand-in internet's npm registry: verdaccio on loopback inside the namespace, with no
// uplink, and the packages below published into it at start. It admits anyone: the HTTPS front
// before it is what asks for the token, so the token a test gives is the one that works.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { tarGz } from './archives.test-support.ts';

/** A package published at start: `hello` requires `greeting`, so an install resolves a dependency. */
export const npmPackages = {
  greeting: { name: '@stand-in/greeting', version: '1.0.0', text: 'hello from the stand-in registry' },
  hello: { name: 'stand-in-hello', version: '1.0.0' },
} as const;

function packagesToPublish(): { manifest: Record<string, unknown>; tarball: Buffer }[] {
  const { greeting, hello } = npmPackages;
  const greetingManifest = { name: greeting.name, version: greeting.version, main: 'index.js', license: 'MIT' };
  const helloManifest = {
    name: hello.name,
    version: hello.version,
    main: 'index.js',
    license: 'MIT',
    dependencies: { [greeting.name]: `^${greeting.version}` },
  };
  return [
    {
      manifest: greetingManifest,
      tarball: tarGz([
        { path: 'package/package.json', contents: `${JSON.stringify(greetingManifest, null, 2)}\n` },
        { path: 'package/index.js', contents: `module.exports = ${JSON.stringify(greeting.text)};\n` },
      ]),
    },
    {
      manifest: helloManifest,
      tarball: tarGz([
        { path: 'package/package.json', contents: `${JSON.stringify(helloManifest, null, 2)}\n` },
        { path: 'package/index.js', contents: `module.exports = require(${JSON.stringify(greeting.name)});\n` },
      ]),
    },
  ];
}

/** Publishes one package as `npm publish` does: a PUT of its document with the tarball attached. */
export async function publishToRegistry(registry: string, manifest: Record<string, unknown>, tarball: Buffer): Promise<void> {
  const name = String(manifest['name']);
  const version = String(manifest['version']);
  const file = `${name.split('/').pop() ?? name}-${version}.tgz`;
  const document = {
    _id: name,
    name,
    'dist-tags': { latest: version },
    versions: {
      [version]: {
        ...manifest,
        _id: `${name}@${version}`,
        dist: {
          shasum: createHash('sha1').update(tarball).digest('hex'),
          integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
          tarball: `${registry}/${name}/-/${file}`,
        },
      },
    },
    _attachments: { [file]: { content_type: 'application/octet-stream', data: tarball.toString('base64'), length: tarball.length } },
  };
  const response = await fetch(`${registry}/${name.replace('/', '%2f')}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(document),
  });
  if (!response.ok) throw new Error(`npm registry: publishing ${name}@${version} answered ${response.status}: ${await response.text()}`);
}

/** Starts verdaccio with its storage under `root`, publishes `npmPackages`; resolves with its port. */
export async function startNpmRegistry(root: string): Promise<{ port: number; close(): Promise<void> }> {
  const { runServer } = await import('verdaccio');
  const storage = join(root, 'storage');
  mkdirSync(storage, { recursive: true });
  writeFileSync(join(root, 'htpasswd'), '');
  const server = (await runServer({
    self_path: join(root, 'config.yaml'),
    storage,
    auth: { htpasswd: { file: join(root, 'htpasswd'), max_users: -1 } },
    uplinks: {},
    packages: { '**': { access: ['$all'], publish: ['$all'], unpublish: ['$all'], proxy: [] } },
    web: { enable: false },
    log: { type: 'stdout', format: 'json', level: 'fatal' },
  } as never)) as Server;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  for (const { manifest, tarball } of packagesToPublish()) await publishToRegistry(`http://127.0.0.1:${port}`, manifest, tarball);
  return { port, close: () => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())) };
}
