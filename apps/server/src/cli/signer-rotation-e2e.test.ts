// Rotating a server's signing key as an operator does it (ADR 0019), with the built `cairn`: a
// demo run on the key `cairn init` wrote, a new key file in config.signer — `cairn serve` refuses
// before it listens — then config.previousSigner naming the old file: the server hands over and
// serves, a second demo run verifies with the new key, and `cairn audit verify-log` (the server's
// current key only) passes over both.
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createLocalSigner } from '@cairn/local';
import { expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { builtCli, useBuiltServer } from './built-server.test-support.ts';

const { cairn, initialised, serve, childEnv } = useBuiltServer();

test('cairn serve refuses a changed signing key without previousSigner, hands over with it, and verify-log passes', { timeout: 180_000 }, async () => {
  const { directory, keyId: oldKeyId, token } = await initialised();
  const file = join(directory, 'cairn.config.yaml');
  const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;

  const first = await serve(directory);
  const before = await cairn(directory, ['--json', 'demo', '--server', first.base, '--directory', join(directory, 'demo-1')], { CAIRN_TOKEN: token });
  expect(before.status, before.stdout + before.stderr).toBe(0);
  first.server.kill('SIGTERM');
  await once(first.server, 'exit');

  const newKeyFile = join(directory, 'signing-2026.pem');
  const newKeyId = await createLocalSigner({ keyFile: newKeyFile, create: true }).keyId();
  writeFileSync(file, stringifyYaml({ ...config, signer: { kind: 'local', keyFile: newKeyFile } }));
  const refused = spawn(process.execPath, [builtCli, '--json', 'serve'], {
    cwd: directory,
    env: childEnv({ CAIRN_PORT: '0' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  refused.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  refused.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(refused, 'exit')) as [number];
  expect(code).not.toBe(0);
  expect(output).not.toContain('listening');
  expect(output).toContain('CAIRN_CONFIG_INVALID');
  expect(output).toContain(`config.signer's key ${newKeyId}`);
  expect(output).toContain(`signed with (${oldKeyId})`);

  const oldKeyFile = join(directory, String(config['dataDirectory'] ?? '.'), 'keys', 'signing.pem');
  writeFileSync(file, stringifyYaml({ ...config, signer: { kind: 'local', keyFile: newKeyFile }, previousSigner: { kind: 'local', keyFile: oldKeyFile } }));
  const keyId = await cairn(directory, ['--json', 'key', 'id']);
  expect(JSON.parse(keyId.stdout)).toMatchObject({ keyId: newKeyId });
  const second = await serve(directory);
  const after = await cairn(directory, ['--json', 'demo', '--server', second.base, '--directory', join(directory, 'demo-2')], { CAIRN_TOKEN: token });
  expect(after.status, after.stdout + after.stderr).toBe(0);
  expect(JSON.parse(after.stdout)).toMatchObject({ trustedKeyId: newKeyId, verify: { valid: true } });
  const log = await cairn(directory, ['audit', 'export', '--action', 'signer.rotated', '--server', second.base], { CAIRN_TOKEN: token });
  expect(log.status, log.stderr).toBe(0);
  expect(log.stdout).toContain(`"fromKeyId":"${oldKeyId}"`);
  second.server.kill('SIGTERM');
  await once(second.server, 'exit');

  const verified = await cairn(directory, ['--json', 'audit', 'verify-log']);
  expect(verified.status, verified.stdout + verified.stderr).toBe(0);
  expect(JSON.parse(verified.stdout)).toMatchObject({ valid: true });
});
