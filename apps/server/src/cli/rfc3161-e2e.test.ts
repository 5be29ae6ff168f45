// Trusted time, as a user runs it: the built `dist/cli.js` (rebuild first: `pnpm --filter
// @cairn/timestamp build && pnpm --filter @cairn/server build`), `cairn init`, a config with the
// local anchor and an `rfc3161` anchor at a real TSA (OpenSSL's `ts -reply` behind HTTP on
// loopback, in this test process), `cairn serve`, the demo run through `cairn demo --server`; its
// bundle verifies `witnessed` in the server's folder (the config's TSA certificate trusted) and
// outside it with `--trusted-tsa-cert`, never with another TSA's certificate or none.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EvidenceBundleV1 } from '@cairn/core';
import { OpensslTestTsa } from '@cairn/timestamp/testing';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { useBuiltServer } from './built-server.test-support.ts';

const { cairn, initialised, serve } = useBuiltServer();

let tsa: OpensslTestTsa;
let otherTsa: OpensslTestTsa;
beforeAll(async () => {
  [tsa, otherTsa] = await Promise.all([OpensslTestTsa.start(), OpensslTestTsa.start()]);
});
afterAll(async () => {
  await Promise.all([tsa.close(), otherTsa.close()]);
});

test(
  'cairn serve with an rfc3161 anchor runs the demo run; its bundle verifies witnessed with the TSA certificate trusted, and not without it',
  { timeout: 240_000 },
  async () => {
    const { directory, keyId, token } = await initialised();
    mkdirSync(join(directory, 'keys'), { recursive: true });
    writeFileSync(join(directory, 'keys', 'tsa.pem'), tsa.certificate);
    const file = join(directory, 'cairn.config.yaml');
    const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, stringifyYaml({ ...config, anchors: [{ kind: 'local' }, { kind: 'rfc3161', url: tsa.url, trustedCertificate: './keys/tsa.pem' }] }));
    // cairn doctor stamps a probe through the configured anchor, and names a TSA that is down.
    const doctorCheck = async () => {
      const doctor = await cairn(directory, ['--json', 'doctor']);
      return (JSON.parse(doctor.stdout) as { check: string; ok: boolean; detail: string; fix?: string }[]).find(
        (finding) => finding.check === 'anchors[1] rfc3161',
      );
    };
    expect(await doctorCheck()).toMatchObject({ ok: true, detail: expect.stringMatching(new RegExp(`^${tsa.url}: a probe was stamped at .* verified`)) });
    tsa.behaviour = 'unavailable';
    expect(await doctorCheck()).toMatchObject({
      ok: false,
      detail: expect.stringMatching(/CAIRN_ANCHOR_UNAVAILABLE: .*HTTP 503/),
      fix: expect.stringMatching(/reachable/),
    });
    tsa.behaviour = 'grant';

    const { base } = await serve(directory);

    const demo = await cairn(directory, ['--json', 'demo', '--server', base, '--directory', join(directory, 'demo')], { CAIRN_TOKEN: token });
    expect(demo.status, demo.stdout + demo.stderr).toBe(0);
    const result = JSON.parse(demo.stdout) as { runId: string; bundle: string; verify: { claim: string } };
    expect(result).toMatchObject({ state: 'succeeded', verify: { valid: true, verdict: 'verified', claim: 'witnessed' } });
    expect(tsa.queries.length).toBeGreaterThan(0);
    const bundle = JSON.parse(readFileSync(result.bundle, 'utf8')) as EvidenceBundleV1;
    expect(bundle.timestamp?.token).toMatch(/^[A-Za-z0-9+/]+=*$/);

    // In the server's folder: its key and its rfc3161 anchor's certificate are trusted.
    const here = await cairn(directory, ['verify', result.bundle]);
    expect(here.status, here.stdout + here.stderr).toBe(0);
    expect(here.stdout).toMatch(/^valid: true, claim: witnessed, verdict: verified/);
    expect(here.stdout).toMatch(/pass\s+timestamp\s+.*Cairn Test TSA/);

    // Elsewhere: the key alone is not enough for witnessed; the TSA certificate file is.
    writeFileSync(join(directory, 'demo', 'tsa.pem'), tsa.certificate);
    writeFileSync(join(directory, 'demo', 'other-tsa.pem'), otherTsa.certificate);
    const keyOnly = await cairn(tmpdir(), ['verify', result.bundle, '--trusted-key', keyId]);
    expect(keyOnly.status, keyOnly.stdout + keyOnly.stderr).toBe(0);
    expect(keyOnly.stdout).toMatch(/^valid: true, claim: tamper-detecting/);
    expect(keyOnly.stdout).toMatch(/not-checked\s+timestamp\s+.*no trusted TSA certificate was given/);
    const withCertificate = await cairn(tmpdir(), ['verify', result.bundle, '--trusted-key', keyId, '--trusted-tsa-cert', join(directory, 'demo', 'tsa.pem')]);
    expect(withCertificate.status, withCertificate.stdout + withCertificate.stderr).toBe(0);
    expect(withCertificate.stdout).toMatch(/^valid: true, claim: witnessed/);
    // Another TSA's certificate: the timestamp check fails, named, and the bundle is not verified.
    const other = await cairn(tmpdir(), ['verify', result.bundle, '--trusted-key', keyId, '--trusted-tsa-cert', join(directory, 'demo', 'other-tsa.pem')]);
    expect(other.status).toBe(1);
    expect(other.stdout).toMatch(/^valid: false, claim: tamper-detecting/);
    expect(other.stdout).toMatch(/fail\s+timestamp\s+.*no trusted TSA certificate verifies its signature/);
    // A file that is not a TSA certificate is bad input, named.
    const notTsa = await cairn(tmpdir(), ['verify', result.bundle, '--trusted-key', keyId, '--trusted-tsa-cert', join(directory, 'cairn.config.yaml')]);
    expect(notTsa.status).toBe(2);
    expect(notTsa.stderr).toMatch(/--trusted-tsa-cert: .*cairn\.config\.yaml is not a PEM X\.509 certificate/);
  },
);

test('a server whose only anchor is the TSA: the demo prints an offline verify command, and that command says witnessed', { timeout: 240_000 }, async () => {
  const { directory, token } = await initialised();
  writeFileSync(join(directory, 'tsa.pem'), tsa.certificate);
  const file = join(directory, 'cairn.config.yaml');
  const config = parseYaml(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, stringifyYaml({ ...config, anchors: [{ kind: 'rfc3161', url: tsa.url, trustedCertificate: 'tsa.pem' }] }));
  const { base } = await serve(directory);
  const demo = await cairn(directory, ['demo', '--server', base, '--directory', join(directory, 'demo')], { CAIRN_TOKEN: token });
  expect(demo.status, demo.stdout + demo.stderr).toBe(0);
  const printed = /^\$ cairn verify (.*)$/m.exec(demo.stdout)![1]!;
  expect(printed).not.toContain('--online');
  expect(demo.stdout).toMatch(/^valid: true, claim: witnessed, verdict: verified/m);
  const again = await cairn(tmpdir(), ['verify', ...printed.split(' ')]);
  expect(again.status, again.stdout + again.stderr).toBe(0);
  expect(again.stdout).toMatch(/^valid: true, claim: witnessed/);
});
