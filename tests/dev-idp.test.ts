// docs/operations/sign-in-with-oidc.md's "Try it on this machine" runs as written: its shell block,
// by bash, from the checkout, in a fresh home, with the checkout's `cairn` on PATH. The one thing a
// reader does outside the shell, approving `cairn login`'s code in a browser as ana, the test does
// on the provider's own pages (its forms, cookies and redirects, as a browser follows them). The
// server's port is a free one: the block's 7600 becomes it, as CAIRN_PORT tells `cairn serve` and
// the provider's redirect URI.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { freePort } from './support/free-port.ts';
import { runReaderBlock, shellBlocks } from './support/reader-shell.ts';
import { repositoryRoot } from './support/workspace.ts';

const page = 'docs/operations/sign-in-with-oidc.md';
// @cairn/oidc's test support, by path (this project type-checks tests/ alone): the provider's own
// pages, driven as a browser follows them.
const { approveDeviceAs } = (await import(join(repositoryRoot, 'packages/oidc/src/test-identity-provider.test-support.ts'))) as {
  approveDeviceAs: (verificationUri: string, login: string) => Promise<string>;
};
const home = mkdtempSync(join(tmpdir(), 'cairn-dev-idp-'));

afterAll(() => {
  chmodSync(home, 0o700);
  rmSync(home, { recursive: true, force: true });
});

test(
  `${page}: "Try it on this machine" runs as written: the dev provider, a server on it, cairn login as ana, cairn runs as her`,
  { timeout: 120_000 },
  async () => {
    const [walkthrough] = shellBlocks(page).filter((block) => block.includes('scripts/dev-idp.mjs'));
    expect(walkthrough).toBeDefined();
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      HOME: home,
      LANG: 'C.UTF-8',
      PATH: [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(':'),
      CAIRN_PORT: String(port),
      CAIRN_CLIENT_CONFIG: join(home, '.config', 'cairn', 'client.yaml'),
    };
    let approval: Promise<string> | undefined;
    const result = await runReaderBlock(walkthrough!.replaceAll('127.0.0.1:7600', `127.0.0.1:${port}`), env, {
      deadlineMs: 100_000,
      onOutput: (output) => {
        const address = /^To sign in, open (\S+)$/m.exec(output)?.[1];
        if (address && !approval) approval = approveDeviceAs(address, 'ana');
      },
    });
    const folder = join(home, 'cairn-oidc');
    const logs = ['idp.log', 'serve.log'].map((name) => (existsSync(join(folder, name)) ? `${name}:\n${readFileSync(join(folder, name), 'utf8')}` : ''));
    expect(result.status, `${result.output}\n${logs.join('\n')}`).toBe(0);
    expect(await approval).toContain('Sign-in Success');

    // The provider wrote its section into init's config, naming itself and the server's callback.
    const config = readFileSync(join(folder, 'cairn.config.yaml'), 'utf8');
    const issuer = /^ready (http:\/\/127\.0\.0\.1:\d+)$/m.exec(readFileSync(join(folder, 'idp.log'), 'utf8'))?.[1];
    expect(issuer).toBeDefined();
    expect(config).toContain('# Cairn server configuration (cairn init).');
    expect(config).toMatch(/^ {2}auth: tokens$/m);
    expect(config).toContain(`    issuer: ${issuer}\n`);
    expect(config).toContain(`redirectUri: http://127.0.0.1:${port}/v1/session/oidc/callback`);
    // ana signed in through the device grant, and `cairn runs` in the server's folder used her sign-in.
    expect(result.output).toContain(`signed in to http://127.0.0.1:${port} as ${issuer}#ana`);
    expect(result.output).toMatch(/^run +state +priority +items/m);
    expect(readFileSync(env['CAIRN_CLIENT_CONFIG']!, 'utf8')).toContain(`server: http://127.0.0.1:${port}`);
    // `kill %2 %1` stopped both: nothing answers on either port.
    await expect(fetch(`http://127.0.0.1:${port}/v1/sign-in`)).rejects.toThrow();
    await expect(fetch(`${issuer}/.well-known/openid-configuration`)).rejects.toThrow();
  },
);
