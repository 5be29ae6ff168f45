// `cairn backup` and `cairn restore` as an operator runs them (the built command, child processes)
// against a server that keeps serving: the restored directory composes into a server holding the
// same runs, patches and evidence under the same key, and refusing the replay of a trigger delivery
// it saw before; a tampered archive restores nothing.
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { serializeEvidenceBundle, verifyBundle } from '@cairn/audit';
import { blobKey } from '@cairn/protocol';
import { readTar } from '@cairn/protocol/workspace';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { afterAll, expect, test } from 'vitest';
import { composeServer } from '../composition/compose-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { buildHttpApi } from '../http/http-server.ts';
import { runningServers } from '../http/running-server.test-support.ts';
import { runCli } from '../cli/run-cli.test-support.ts';
import { initServer } from '../cli/init-server.ts';

const start = runningServers();

const cairn = (args: string[], cwd: string) => runCli(args, { cwd, built: true });

const writeSpec = (name: string, line: string) => ({
  version: 1,
  name,
  items: [{ id: 'write', runtime: { kind: 'command', argv: ['/bin/sh', '-c', `echo ${line} > made.txt`] } }],
});

/**
 * A Standard Webhooks trigger `alerts` running template `note`, whose spec file lies outside the
 * server's folder (named by its absolute path): removed before the restored server starts, it is
 * read from the archive's copy.
 */
const templates = mkdtempSync(join(tmpdir(), 'cairn-backup-templates-'));
afterAll(() => rmSync(templates, { recursive: true, force: true }));
writeFileSync(
  join(templates, 'note.yaml'),
  stringifyYaml({ version: 1, name: 'alert {{ id }}', items: [{ id: 'note', runtime: { kind: 'command', argv: ['/bin/true'] } }] }),
);
const webhookKey = randomBytes(32);
const triggerConfig = {
  templates: { note: { spec: join(templates, 'note.yaml'), parameters: { id: {} } } },
  triggers: { webhooks: { alerts: { secret: 'ALERTS_WEBHOOK_SECRET', template: 'note', parameters: { id: '/id' } } } },
};

/** A delivery signed as the Standard Webhooks specification signs one (HMAC-SHA256 of "id.timestamp.body"). */
function alertDelivery(id: string): RequestInit {
  const body = JSON.stringify({ id });
  const timestamp = String(Math.floor(Date.now() / 1_000));
  const signature = createHmac('sha256', webhookKey).update(`${id}.${timestamp}.${body}`).digest('base64');
  return {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` },
  };
}

test(
  'backup while serving, restore elsewhere: runs, items, patches, webhooks, trigger deliveries seen, templates, evidence under the same key, keys 0600; tampering and overwriting refused',
  { timeout: 90_000 },
  async () => {
    const { directory, base, api, composition, keyId } = await start('tokens', { config: triggerConfig });
    await composition.service.setSecret('ALERTS_WEBHOOK_SECRET', `whsec_${webhookKey.toString('base64')}`, { kind: 'user', id: 'operator', via: 'cli' });
    const submit = async (spec: object) =>
      (
        (await (await api('/v1/runs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(spec) })).json()) as {
          runId: string;
        }
      ).runId;
    const webhook = (await (
      await api('/v1/webhooks', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ url: 'http://127.0.0.1:9/backed-up', events: ['run.state'] }),
      })
    ).json()) as { webhookId: string; secret: string };
    const runId = await submit(writeSpec('before-backup', 'restored-line'));
    expect((await composition.engine.waitForRun(runId)).state).toBe('succeeded');
    // A trigger delivery handled before the backup: its run and its id are both in the archive.
    const seen = alertDelivery('msg_before_backup');
    const triggered = await fetch(`${base}/v1/triggers/webhooks/alerts`, seen);
    expect(triggered.status).toBe(201);
    const triggeredRunId = ((await triggered.json()) as { runId: string }).runId;
    // The dispatcher enqueues the run's deliveries at its own pace (it looks for new endpoints once
    // a second): the backup is taken once there are some to carry.
    await expect
      .poll(async () => ((await (await api(`/v1/webhooks/${webhook.webhookId}/deliveries`)).json()) as unknown[]).length, { timeout: 15_000 })
      .toBeGreaterThan(0);

    // The server keeps working while the backup is taken: a second run is submitted and runs meanwhile.
    const [backup, duringRunId] = await Promise.all([
      cairn(['--json', 'backup', 'server.cairn-backup'], directory),
      submit(writeSpec('during-backup', 'later')),
    ]);
    expect(backup.status, backup.stderr).toBe(0);
    expect(JSON.parse(backup.stdout)).toMatchObject({ signingKeyId: keyId, members: expect.any(Number) });
    const archive = join(directory, 'server.cairn-backup');
    expect(statSync(archive).mode & 0o777).toBe(0o600);
    await composition.engine.waitForRun(duringRunId);
    expect((await api(`/v1/runs/${runId}`)).status).toBe(200);

    const target = join(directory, 'elsewhere');
    const restored = await cairn(['--json', 'restore', archive, target], directory);
    expect(restored.status, restored.stderr).toBe(0);
    expect(JSON.parse(restored.stdout)).toMatchObject({
      configFile: join(target, 'cairn.config.yaml'),
      dataDirectory: join(target, 'cairn-data'),
      signingKeyId: keyId,
    });
    expect(readFileSync(join(target, 'cairn.config.yaml'), 'utf8')).toContain('dataDirectory: ./cairn-data');
    for (const key of ['signing.pem', 'cipher.key', 'tokens.json']) expect(statSync(join(target, 'cairn-data', 'keys', key)).mode & 0o777).toBe(0o600);

    // The template's run spec travelled in the archive: the restored config names its copy, and the original is not needed.
    expect(parseYaml(readFileSync(join(target, 'cairn.config.yaml'), 'utf8'))).toMatchObject({
      templates: { note: { spec: './cairn-data/templates/note.yaml' } },
    });
    rmSync(join(templates, 'note.yaml'));
    const copy = await composeServer(loadServerConfig({ directory: target, env: { CAIRN_SANDBOX: 'none' } }));
    try {
      expect(copy.signingKey.keyId).toBe(keyId);
      // The webhook endpoint, its secret (decrypted with the restored cipher key) and its deliveries.
      expect(await copy.webhooks.list()).toEqual([expect.objectContaining({ webhookId: webhook.webhookId, url: 'http://127.0.0.1:9/backed-up' })]);
      expect(await copy.webhooks.secretOf(webhook.webhookId)).toBe(webhook.secret);
      expect((await copy.webhooks.deliveries(webhook.webhookId)).length).toBeGreaterThan(0);
      expect(copy.engine.run(runId)).toMatchObject({ runId, name: 'before-backup', state: 'succeeded' });
      // The delivery seen before the backup is a replay to the restored server too: nothing runs again.
      expect(copy.engine.run(triggeredRunId)).toMatchObject({ name: 'alert msg_before_backup' });
      const copyApi = await buildHttpApi({ composition: copy, host: '127.0.0.1' });
      try {
        const copyBase = await copyApi.listen({ host: '127.0.0.1', port: 0 });
        const replay = await fetch(`${copyBase}/v1/triggers/webhooks/alerts`, seen);
        expect([replay.status, await replay.json()]).toEqual([200, { duplicate: true }]);
      } finally {
        await copyApi.close();
      }
      expect(copy.engine.items(runId)).toEqual([expect.objectContaining({ itemId: 'write', state: 'succeeded' })]);
      const patch = await copy.storage.get(blobKey(copy.engine.artifacts(runId, 'write')!['patch']!));
      expect(new TextDecoder().decode(patch!)).toContain('+restored-line');
      const report = await verifyBundle(serializeEvidenceBundle(await copy.engine.exportBundle(runId)), { pinnedKeyIds: [keyId] });
      expect(report.valid, JSON.stringify(report.checks)).toBe(true);
    } finally {
      await copy.close();
    }

    // Never over an existing server: the same directory again is refused, naming what is there.
    const again = await cairn(['restore', archive, target], directory);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain(`${join(target, 'cairn.config.yaml')} exists already`);

    // One byte of one member changed (the gzip and tar stay well-formed): refused, naming the member.
    const tar = gunzipSync(readFileSync(archive));
    const at = tar.indexOf('"name": "operator"');
    expect(at).toBeGreaterThan(0);
    tar[at + '"name": "'.length] = 'O'.charCodeAt(0);
    const tampered = join(directory, 'tampered.cairn-backup');
    writeFileSync(tampered, gzipSync(tar));
    const refused = await cairn(['restore', tampered, join(directory, 'third')], directory);
    expect(refused.status).toBe(3);
    expect(refused.stderr).toMatch(/CAIRN_DIGEST_MISMATCH: The member "data\/keys\/tokens\.json" .* hashes to sha256:[0-9a-f]{64}, not sha256:/);
    expect(existsSync(join(directory, 'third', 'cairn-data'))).toBe(false);
  },
);

test(
  'backup into a folder that does not exist makes it (0700, the archive holds the keys); one that cannot be made is bad input (exit 2) naming it',
  { timeout: 60_000 },
  async () => {
    const { directory } = await start();
    const made = await cairn(['--json', 'backup', 'backups/2026-11-23/server.cairn-backup'], directory);
    expect(made.status, made.stderr).toBe(0);
    expect(statSync(join(directory, 'backups', '2026-11-23')).mode & 0o777).toBe(0o700);
    expect(statSync(join(directory, 'backups', '2026-11-23', 'server.cairn-backup')).mode & 0o777).toBe(0o600);

    writeFileSync(join(directory, 'a-file'), 'not a folder\n');
    const refused = await cairn(['backup', 'a-file/server.cairn-backup'], directory);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('CAIRN_PAYLOAD_INVALID: Cannot write the backup to a-file/server.cairn-backup: ENOTDIR');
    expect(refused.stderr).not.toContain('    at ');
  },
);

test(
  'with S3 storage and an S3 Object Lock anchor, the backup copies neither bucket and says so (output, manifest), keeps their config, and the restore names them again',
  { timeout: 60_000 },
  async () => {
    const directory = mkdtempSync(join(tmpdir(), 'cairn-backup-s3-'));
    try {
      await initServer(directory);
      // The database exists once a server has composed; then the config moves storage and an anchor to S3.
      await (await composeServer(loadServerConfig({ directory, env: {} }))).close();
      const configFile = join(directory, 'cairn.config.yaml');
      const config = parseYaml(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
      const s3 = { bucket: 'acme-cairn', prefix: 'team-a/', endpoint: 'http://127.0.0.1:7480', forcePathStyle: true };
      writeFileSync(
        configFile,
        stringifyYaml({
          ...config,
          storage: { kind: 's3', ...s3 },
          anchors: [{ kind: 'local' }, { kind: 's3-object-lock', ...s3, bucket: 'acme-anchor', retentionDays: 30 }],
        }),
      );

      const backup = await runCli(['backup', 'server.cairn-backup'], { cwd: directory });
      expect(backup.status, backup.stderr).toBe(0);
      expect(backup.stdout).toContain('NOT copied: storage (s3) s3://acme-cairn/team-a/ at http://127.0.0.1:7480: the storage objects');
      expect(backup.stdout).toContain('NOT copied: anchors[1] (s3-object-lock) s3://acme-anchor/team-a/ at http://127.0.0.1:7480: the anchored checkpoints');
      const members = tarMembers(join(directory, 'server.cairn-backup'));
      const manifest = JSON.parse(members.get('cairn-backup.json')!) as {
        members: { path: string }[];
        notCopied: { option: string; kind: string; location: string }[];
      };
      expect(manifest.notCopied.map(({ option, kind, location }) => ({ option, kind, location }))).toEqual([
        { option: 'storage', kind: 's3', location: 's3://acme-cairn/team-a/ at http://127.0.0.1:7480' },
        { option: 'anchors[1]', kind: 's3-object-lock', location: 's3://acme-anchor/team-a/ at http://127.0.0.1:7480' },
      ]);
      // Nothing pretends to be a copy of a bucket: no storage member at all, nothing for the S3 anchor.
      expect(manifest.members.filter((member) => member.path.startsWith('data/storage/') || member.path.startsWith('data/anchor-1/'))).toEqual([]);
      expect(manifest.members.map((member) => member.path)).toContain('data/cairn.db');
      // The restored config points at the same buckets.
      const portable = parseYaml(members.get('cairn.config.yaml')!) as { storage: object; anchors: object[] };
      expect(portable.storage).toMatchObject({ kind: 's3', ...s3 });
      expect(portable.anchors).toEqual([{ kind: 'local' }, expect.objectContaining({ kind: 's3-object-lock', bucket: 'acme-anchor', retentionDays: 30 })]);

      const restored = await runCli(['restore', 'server.cairn-backup', 'elsewhere'], { cwd: directory });
      expect(restored.status, restored.stderr).toBe(0);
      expect(restored.stdout).toContain('NOT restored (not in the archive; the config still points at it): storage (s3) s3://acme-cairn/team-a/');
      expect(restored.stdout).toContain(
        'NOT restored (not in the archive; the config still points at it): anchors[1] (s3-object-lock) s3://acme-anchor/team-a/',
      );
      expect(restored.stdout).toContain('it checks that the buckets above answer');
      expect(loadServerConfig({ directory: join(directory, 'elsewhere'), env: {} }).config.storage).toMatchObject({ kind: 's3', bucket: 'acme-cairn' });
      expect(existsSync(join(directory, 'elsewhere', 'cairn-data', 'storage'))).toBe(false);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  },
);

/** The members of a backup archive as text, by path. */
function tarMembers(file: string): Map<string, string> {
  return new Map(
    readTar(new Uint8Array(gunzipSync(readFileSync(file)))).flatMap((member) =>
      member.kind === 'file' ? [[member.path, new TextDecoder().decode(member.content)] as const] : [],
    ),
  );
}
