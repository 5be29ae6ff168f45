// A command the server refuses for its token (401: none or unknown; 403: a scope it lacks) ends at
// once, exit 3 (not 5, a server not up yet, which a script polls through), saying which scope the
// request needs and where the command line takes its token from.
import { expect, test } from 'vitest';
import { runningServers } from '../http/running-server.test-support.ts';
import { runCli } from './run-cli.test-support.ts';

const start = runningServers();

// Each call names its token itself: none is inherited from the shell running the tests.
const cairn = (args: string[], env: Record<string, string> = {}) => runCli(args, { env, unset: ['CAIRN_SERVER', 'CAIRN_TOKEN', 'CAIRN_CONTEXT'] });

test('no token, an unknown one, one without the scope: each ends at once with exit 3, the scope and where the token goes', { timeout: 60_000 }, async () => {
  const { base, composition } = await start();

  const started = Date.now();
  const none = await cairn(['runs', '--server', base]);
  expect(none.status).toBe(3);
  expect(none.stderr).toContain('CAIRN_UNAUTHENTICATED: This request needs a bearer token with the runs:read scope');
  expect(none.stderr).toContain('cairn sent no token: set CAIRN_TOKEN');
  expect(none.stderr).toContain('cairn context add NAME --server URL --token TOKEN');
  // One request, answered: no retry, no wait (a CLI start is most of this).
  expect(Date.now() - started).toBeLessThan(15_000);

  const unknown = await cairn(['watch', 'r-1', '--server', base], { CAIRN_TOKEN: 'cairn_000000000000_not-a-token' });
  expect(unknown.status).toBe(3);
  expect(unknown.stderr).toContain('The bearer token is unknown or revoked; `cairn token create --scope runs:read` makes a new one.');
  expect(unknown.stderr).toContain('the token from CAIRN_TOKEN is not one this server knows');

  const reader = (await composition.tokens.create('reader', ['runs:read'])).token;
  const forbidden = await cairn(['--json', 'schedule', 'add', '/dev/null', '--id', 'x', '--cron', '* * * * *', '--server', base], { CAIRN_TOKEN: reader });
  expect(forbidden.status, forbidden.stderr).toBe(3);
  expect(JSON.parse(forbidden.stderr)).toMatchObject({
    code: 'CAIRN_FORBIDDEN',
    message: expect.stringContaining('needs the admin scope'),
    advice: expect.stringContaining('the token from CAIRN_TOKEN lacks that scope'),
  });
});
