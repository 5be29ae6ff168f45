// A data directory sandboxes cannot pass through (a `mktemp -d` folder, 0700) would fail every item
// with bubblewrap's "Can't find source path ... Permission denied": `cairn init` and `cairn serve`
// refuse it up front, naming the folder, its mode and the chmod that opens it.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { runCli } from './run-cli.test-support.ts';
import { sandboxReachRefusal } from './sandbox-reach.ts';

// A real temporary folder as `mktemp -d` makes it: 0700, owned by this user.
const closed = mkdtempSync(join(tmpdir(), 'cairn-closed-'));
afterAll(() => rmSync(closed, { recursive: true, force: true }));

// The starter config's sandbox, whatever the shell running the tests overrides.
const cairn = (args: string[], cwd = closed) => runCli(args, { cwd, env: { CAIRN_PORT: '0' }, unset: ['CAIRN_SANDBOX', 'CAIRN_DATA_DIRECTORY'] });

test(
  'cairn init and cairn serve refuse a data directory under a 0700 folder, naming it, its mode and the chmod; once opened both go on',
  { timeout: 60_000 },
  async () => {
    expect(statSync(closed).mode & 0o777).toBe(0o700);
    const server = join(closed, 'server');

    const refusedInit = await cairn(['init', server]);
    expect(refusedInit.status).toBe(2);
    expect(refusedInit.stderr).toContain(`CAIRN_CONFIG_INVALID: Sandboxes could not reach their workspaces under ${join(server, 'cairn-data', 'work')}`);
    expect(refusedInit.stderr).toContain(`${closed} (mode 0700)`);
    expect(refusedInit.stderr).toContain(`Run \`chmod o+x ${closed}\``);
    // Refused leaving nothing behind: the next init, once the folder is opened, is a first one.
    expect(existsSync(join(server, 'cairn.config.yaml'))).toBe(false);

    // Without sandboxes (CAIRN_SANDBOX=none, as serve will read it too) nothing needs to pass through.
    const unsandboxed = await runCli(['init', join(closed, 'unsandboxed')], { cwd: closed, env: { CAIRN_SANDBOX: 'none' } });
    expect(unsandboxed.status, unsandboxed.stderr).toBe(0);

    chmodSync(closed, 0o711);
    const init = await cairn(['init', server]);
    expect(init.status, init.stderr).toBe(0);
    // Passable to others, whatever the umask it was made under.
    expect(statSync(join(server, 'cairn-data')).mode & 0o777).toBe(0o711);

    // Closed again after init (or a home folder never opened): serve refuses before it starts anything.
    chmodSync(closed, 0o700);
    const refusedServe = await cairn(['serve'], server);
    expect(refusedServe.status).toBe(2);
    expect(refusedServe.stderr).toContain(`${closed} (mode 0700)`);
    expect(refusedServe.stderr).toContain(`chmod o+x ${closed}`);
    expect(refusedServe.stdout).not.toContain('cairn serving');
    expect(existsSync(join(server, 'cairn-data', 'server.pid'))).toBe(false);
  },
);

test('past a symbolic link, the folders where it leads count too', () => {
  const open = mkdtempSync(join(tmpdir(), 'cairn-open-'));
  const elsewhere = mkdtempSync(join(tmpdir(), 'cairn-elsewhere-'));
  try {
    chmodSync(open, 0o711);
    mkdirSync(join(elsewhere, 'data'), { mode: 0o711 });
    symlinkSync(join(elsewhere, 'data'), join(open, 'cairn-data'));
    const refusal = sandboxReachRefusal(join(open, 'cairn-data', 'work'), 'config.dataDirectory');
    expect(refusal?.details).toMatchObject({ closed: [{ folder: elsewhere, mode: '0700' }], chmod: `chmod o+x ${elsewhere}` });
    chmodSync(elsewhere, 0o711);
    expect(sandboxReachRefusal(join(open, 'cairn-data', 'work'), 'config.dataDirectory')).toBeUndefined();
  } finally {
    rmSync(open, { recursive: true, force: true });
    rmSync(elsewhere, { recursive: true, force: true });
  }
});
