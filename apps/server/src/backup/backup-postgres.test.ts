// `cairn backup` of a server whose engine state is in PostgreSQL (ADR 0023): the archive keeps the
// server's folder and says plainly, in the manifest and the restore's result, that the engine
// state is not in it and where it is (never the password). The PostgreSQL side is backed up with
// the recipe of docs/operations/backup-and-restore.md (pg_dump / pg_restore), run here for real.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { readTar } from '@cairn/protocol/workspace';
import { expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { createTestDatabase, postgresConnection } from '../../../../packages/engine/src/store/postgres/postgres.test-support.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { runningServers } from '../http/running-server.test-support.ts';
import { runCli } from '../cli/run-cli.test-support.ts';
import { backupServer } from './backup-server.ts';
import { postgresLocation } from './external-data.ts';
import { restoreBackup } from './restore-backup.ts';

const start = runningServers();

test(
  'a PostgreSQL server: the archive holds the folder but no engine database, its manifest and the restore name where the state is (no password); pg_dump/pg_restore carry the state',
  { timeout: 120_000 },
  async () => {
    const source = await createTestDatabase();
    const target = await createTestDatabase();
    const folders: string[] = [];
    try {
      const { directory, api } = await start('tokens', { config: { engine: { state: source.settings } } });
      const submitted = (await (
        await api('/v1/runs', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ version: 1, name: 'in-postgres', items: [{ id: 'say', runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'echo hi'] } }] }),
        })
      ).json()) as { runId: string };
      for (let state = ''; state !== 'succeeded';) {
        state = ((await (await api(`/v1/runs/${submitted.runId}`)).json()) as { state: string }).state;
        expect(['queued', 'running', 'succeeded']).toContain(state);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }

      const loaded = loadServerConfig({ directory, env: { CAIRN_SANDBOX: 'none' } });
      const archive = join(directory, 'server.cairn-backup');
      const result = await backupServer(loaded, archive);
      const members = new Map(
        readTar(new Uint8Array(gunzipSync(readFileSync(archive)))).flatMap((member) =>
          member.kind === 'file' ? [[member.path, new TextDecoder().decode(member.content)] as const] : [],
        ),
      );
      const manifest = JSON.parse(members.get('cairn-backup.json')!) as {
        members: { path: string }[];
        notCopied: { option: string; kind: string; location: string; note: string }[];
      };
      const paths = manifest.members.map((member) => member.path);
      // The folder is there (keys, anchor, config); the engine's database is not, nor tokens or
      // webhooks: they are in PostgreSQL too (the token file `cairn init` wrote was imported).
      expect(paths).toEqual(expect.arrayContaining(['cairn.config.yaml', 'data/keys/signing.pem', 'data/keys/cipher.key']));
      expect(paths.filter((path) => path.endsWith('.db') || path.includes('tokens.json'))).toEqual([]);
      const location = `PostgreSQL at ${source.settings.host}:${source.settings.port}, database "${source.name}", schema "cairn", user "${source.settings.user}"`;
      expect(manifest.notCopied).toEqual([{ option: 'engine.state', kind: 'postgres', location, note: expect.stringContaining('is NOT in this archive') }]);
      expect(manifest.notCopied[0]!.note).toContain('pg_dump --format=custom --schema=cairn');
      expect(manifest.notCopied[0]!.note).toContain("the server's API tokens and webhooks");
      expect(result.notCopied).toEqual(manifest.notCopied);
      expect(readFileSync(archive).length).toBeGreaterThan(0);
      expect(members.get('cairn-backup.json')).not.toContain(source.settings.password);

      // The restore says the same, and its config points at the same database.
      const restoreInto = mkdtempSync(join(tmpdir(), 'cairn-restore-pg-'));
      folders.push(restoreInto);
      const restored = await restoreBackup(archive, restoreInto);
      expect(restored.notCopied).toEqual(manifest.notCopied);
      const restoredConfig = parseYaml(readFileSync(restored.configFile, 'utf8')) as { engine: { state: Record<string, unknown> } };
      expect(restoredConfig.engine.state).toMatchObject({ kind: 'postgres', host: source.settings.host, database: source.name, schema: 'cairn' });

      // As the operator reads it: the built command says it for both.
      const cliRestoreInto = join(restoreInto, 'by-cli');
      const backedUp = await runCli(['backup', join(restoreInto, 'cli.cairn-backup')], { cwd: directory, built: true });
      expect(backedUp.status, backedUp.stderr).toBe(0);
      expect(backedUp.stdout).toContain(`NOT copied: engine.state (postgres) ${location}: the engine state`);
      const restoredByCli = await runCli(['restore', join(restoreInto, 'cli.cairn-backup'), cliRestoreInto], { cwd: restoreInto, built: true });
      expect(restoredByCli.status, restoredByCli.stderr).toBe(0);
      expect(restoredByCli.stdout).toContain(`NOT restored (not in the archive; the config still points at it): engine.state (postgres) ${location}`);
      expect(restoredByCli.stdout).toContain('(it checks that the database above answers and holds the engine state)');
      expect(backedUp.stdout + restoredByCli.stdout).not.toContain(source.settings.password);

      // The documented recipe: pg_dump the schema, pg_restore it into another database.
      const connection = postgresConnection();
      const environment = { ...process.env, PGPASSWORD: connection.password };
      const dump = join(restoreInto, 'cairn-state.dump');
      const common = ['--host', connection.host, '--port', String(connection.port), '--username', connection.user];
      const dumped = spawnSync('pg_dump', [...common, '--format=custom', '--schema=cairn', `--file=${dump}`, source.name], {
        env: environment,
        encoding: 'utf8',
      });
      expect(dumped.status, dumped.stderr).toBe(0);
      const loadedBack = spawnSync('pg_restore', [...common, '--no-owner', '--exit-on-error', `--dbname=${target.name}`, dump], {
        env: environment,
        encoding: 'utf8',
      });
      expect(loadedBack.status, loadedBack.stderr).toBe(0);
      const [from, to] = [await source.client(), await target.client()];
      const count = async (client: typeof from, table: string) => (await client.query<{ n: string }>(`SELECT count(*) AS n FROM cairn.${table}`)).rows[0]!.n;
      for (const table of ['audit_entries', 'runs', 'schema_migrations', 'server_tokens', 'server_schema_migrations'])
        expect(await count(to, table)).toBe(await count(from, table));
      expect(Number(await count(to, 'runs'))).toBe(1);
      // The operator's token (imported from the token file) came through pg_dump/pg_restore with the state.
      expect(Number(await count(to, 'server_tokens'))).toBe(1);
    } finally {
      for (const folder of folders) rmSync(folder, { recursive: true, force: true });
      await source.drop();
      await target.drop();
    }
  },
);

test('the location of a PostgreSQL state names host, port, database, schema and user as libpq resolves them, never the password', () => {
  const state = {
    kind: 'postgres' as const,
    schema: 'tenant_a',
    keepAliveMs: 10_000,
    idleInTransactionTimeoutMs: 60_000,
    statementTimeoutMs: 300_000,
    connectTimeoutMs: 10_000,
  };
  expect(postgresLocation({ ...state, connectionString: 'postgres://alice:s3cret@db.example:6543/cairn_prod' }, {})).toBe(
    'PostgreSQL at db.example:6543, database "cairn_prod", schema "tenant_a", user "alice"',
  );
  // A field beats the connection string; the environment fills what neither names.
  expect(postgresLocation({ ...state, connectionString: 'postgres://alice:s3cret@db.example/cairn_prod', host: 'replica.example' }, { PGPORT: '5999' })).toBe(
    'PostgreSQL at replica.example:5999, database "cairn_prod", schema "tenant_a", user "alice"',
  );
  expect(postgresLocation({ ...state, password: 'pw' }, { PGHOST: '/var/run/postgresql', PGUSER: 'cairn', PGDATABASE: 'engine', PGPASSWORD: 'pw' })).toBe(
    'PostgreSQL at the unix socket in /var/run/postgresql (port 5432), database "engine", schema "tenant_a", user "cairn"',
  );
});
