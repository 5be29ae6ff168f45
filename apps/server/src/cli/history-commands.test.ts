// `cairn runs`, `cairn audit export`, `cairn audit bundle` and `cairn report` as a user runs them (child processes),
// against a running server holding real runs.
import type { RunSpecV1 } from '@cairn/core';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { auditLeafHash, readLogNdjson } from '@cairn/audit';
import { createCairnClient } from '@cairn/client';
import { expect, test } from 'vitest';
import { runningServers } from '../http/running-server.test-support.ts';
import { runCli } from './run-cli.test-support.ts';

const start = runningServers();

const cairn = (args: string[], env: Record<string, string>) => runCli(args, { env });

const hostile = '<script>alert(1)</script>, "quoted"';

test(
  "cairn runs pages the history; cairn audit export writes NDJSON whose leaves are the log's, and audit bundle one that verifies; cairn report writes every format, escaped",
  { timeout: 90_000 },
  async () => {
    const { directory, base: server, operatorToken, composition, keyId } = await start();
    const { engine } = composition;
    const client = createCairnClient({ baseUrl: server, token: operatorToken });
    const spec = (name: string): RunSpecV1 => ({ version: 1, name, items: [{ id: 'one', runtime: { kind: 'command', argv: ['/bin/true'] } }] });
    const runIds: string[] = [];
    for (const name of ['plain', hostile, 'third']) runIds.push((await client.submit(spec(name))).runId);
    for (const runId of runIds) await engine.waitForRun(runId);
    const env = { CAIRN_TOKEN: operatorToken };
    const exportFile = join(directory, 'audit.ndjson');
    const htmlFile = join(directory, 'report.html');

    const [firstPage, exported, html, csv, everything] = await Promise.all([
      cairn(['runs', '--limit', '2', '--server', server], env),
      cairn(['audit', 'export', '--run', runIds[1]!, '--out', exportFile, '--server', server], env),
      cairn(['report', '--format', 'html', '--out', htmlFile, '--server', server], env),
      cairn(['report', '--format', 'csv', '--server', server], env),
      cairn(['audit', 'export', '--server', server], env),
    ]);

    expect(firstPage.status, firstPage.stderr).toBe(0);
    const cursor = /^more: cairn runs --cursor (\S+)$/m.exec(firstPage.stdout)![1]!;
    const secondPage = await cairn(['--json', 'runs', '--limit', '2', '--cursor', cursor, '--server', server], env);
    const listed = [...firstPage.stdout.matchAll(/^(r-\S+)\s+succeeded/gm)].map((match) => match[1]!);
    expect(listed).toHaveLength(2);
    const rest = JSON.parse(secondPage.stdout) as { runs: { runId: string }[]; nextCursor?: string };
    expect(rest.nextCursor).toBeUndefined();
    expect([...listed, ...rest.runs.map((run) => run.runId)].sort()).toEqual([...runIds].sort());
    // Filters: an exact name; a filtered page's "more" line repeats the filters its cursor needs.
    const named = await cairn(['--json', 'runs', '--name', hostile, '--server', server], env);
    expect((JSON.parse(named.stdout) as { runs: { runId: string }[] }).runs.map((run) => run.runId)).toEqual([runIds[1]]);
    const submitter = String((await client.run(runIds[0]!))['submittedBy']);
    const filtered = await cairn(['runs', '--submitter', submitter, '--submitted-after', '2000-01-01T00:00:00Z', '--limit', '1', '--server', server], env);
    expect(filtered.status, filtered.stderr).toBe(0);
    const more = /^more: cairn runs (.+)$/m.exec(filtered.stdout)![1]!;
    expect(more).toMatch(new RegExp(`^--cursor \\S+ --submitter ${submitter} --submitted-after 2000-01-01T00:00:00Z$`));
    const followed = await cairn(['--json', 'runs', '--limit', '1', ...more.split(' '), '--server', server], env);
    expect(followed.status, followed.stderr).toBe(0);
    expect((JSON.parse(followed.stdout) as { runs: unknown[] }).runs).toHaveLength(1);

    expect(exported.status, exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(/wrote \d+ audit entries to/);
    expect(readLogNdjson(readFileSync(exportFile, 'utf8'))).toEqual(engine.audit.runEntries(runIds[1]!));
    expect(everything.status, everything.stderr).toBe(0);
    const entries = readLogNdjson(everything.stdout);
    expect(entries.map((entry) => entry.seq)).toEqual(entries.map((_, index) => index));
    for (const entry of entries) expect(Buffer.from(auditLeafHash(entry)).equals(Buffer.from(engine.audit.merkle.leafHash(entry.seq)))).toBe(true);

    expect(html.status, html.stderr).toBe(0);
    const page = readFileSync(htmlFile, 'utf8');
    expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;, &quot;quoted&quot;');
    expect(page).not.toMatch(/<script/i);
    expect(page).toMatch(/3 runs \(3 succeeded\)/);
    expect(csv.status, csv.stderr).toBe(0);
    expect(csv.stdout).toContain('"<script>alert(1)</script>, ""quoted"""');
    expect(csv.stdout.split('\r\n')[1]).toMatch(/^total,/);

    const bundleFile = join(directory, 'plain.bundle.json');
    const bundled = await cairn(['audit', 'bundle', runIds[0]!, '--out', bundleFile, '--server', server], env);
    expect(bundled.status, bundled.stderr).toBe(0);
    const verified = await cairn(['--json', 'verify', bundleFile, '--trusted-key', keyId], {});
    expect(verified.status, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ claim: 'tamper-detecting', valid: true });

    const { token } = await composition.tokens.create('reader', ['runs:read']);
    const [refused, future] = await Promise.all([
      cairn(['audit', 'export', '--out', join(directory, 'refused.ndjson'), '--server', server], { CAIRN_TOKEN: token }),
      cairn(['--json', 'report', '--since', '2999-01-01T00:00:00Z', '--server', server], { CAIRN_TOKEN: token }),
    ]);
    expect(refused.status).toBe(3);
    expect(refused.stderr).toMatch(/^CAIRN_FORBIDDEN/);
    expect(existsSync(join(directory, 'refused.ndjson')) || existsSync(join(directory, 'refused.ndjson.partial'))).toBe(false);
    expect(future.status, future.stderr).toBe(0);
    expect(JSON.parse(future.stdout)).toMatchObject({ since: '2999-01-01T00:00:00.000Z', totals: { runs: 0 }, runs: [] });
  },
);
