#!/usr/bin/env -S node --max-semi-space-size=32
// `cairn`: the command line of the reference server. Each command prints for people, or with
// --json one JSON document for scripts; exit codes: 0 done, 1 a check or run failed, 2 bad input
// (an invalid spec, config or request), 3 anything else.
import { readFileSync } from 'node:fs';
import { loadRunSpec, parseRunSpec } from '@cairn/protocol';
import { snapshotWorkspace } from '@cairn/worker';
import { tokenScopes } from '../auth/token-scopes.ts';
import { TokenStore } from '../auth/token-store.ts';
import { composeServer } from '../composition/compose-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { formatVerificationReport } from '../evidence/format-verification-report.ts';
import { verifyEvidence } from '../evidence/verify-evidence.ts';
import { buildHttpApi } from '../http/http-server.ts';
import { createServerLogger } from '../logging/server-logger.ts';
import { addAuditCommands } from './audit-commands.ts';
import { addBackupCommands } from './backup-commands.ts';
import { clientOf, configOption, isEntryPoint, json, program, runCommandLine, say } from './cli-program.ts';
import { addDemoCommands } from './demo-commands.ts';
import { diagnoseServer } from './diagnose-server.ts';
import { initServer } from './init-server.ts';
import { addReportCommands } from './report-commands.ts';
import { addRunListCommands } from './run-list-commands.ts';
import { progressOutput, RunProgress } from './run-progress.ts';
import { addWebhookCommands } from './webhook-commands.ts';

program
  .command('init')
  .argument('[directory]', 'where to write cairn.config.yaml and the data directory', '.')
  .description('write a working local config, its data directory and keys (0600)')
  .action(async (directory: string) => {
    const result = await initServer(directory);
    if (json()) {
      say(JSON.stringify(result));
      return;
    }
    say(`wrote ${result.configFile}`);
    say(`data in ${result.dataDirectory}; signing key ${result.keyId} (pin it when you verify evidence)`);
    say(`operator token (admin; shown once, only its hash is kept): ${result.operatorToken}`);
    say('next: cairn doctor');
  });

program
  .command('doctor')
  .description('check that this machine and config can run work')
  .action(async () => {
    const findings = await diagnoseServer(loadServerConfig(configOption()));
    if (json()) say(JSON.stringify(findings));
    else for (const finding of findings) say(`${finding.ok ? 'ok  ' : 'FAIL'}  ${finding.check.padEnd(13)} ${finding.detail}${finding.fix ? `\n      fix: ${finding.fix}` : ''}`);
    process.exitCode = findings.every((finding) => finding.ok) ? 0 : 1;
  });

program
  .command('validate')
  .argument('<spec>', 'a run spec, YAML or JSON')
  .description('check a run spec and report every problem with its JSON path')
  .action((file: string) => {
    const { spec, digest } = loadRunSpec(readFileSync(file, 'utf8'), { source: file });
    if (json()) say(JSON.stringify({ valid: true, name: spec.name, items: spec.items.length, digest }));
    else say(`valid: run "${spec.name}", ${spec.items.length} items, spec digest ${digest}`);
  });

program
  .command('serve')
  .description('run the server: the engine and its HTTP API on server.host:server.port (tokens required off loopback)')
  .action(async () => {
    const loaded = loadServerConfig(configOption());
    // With --json, standard output is the one JSON document: the log goes to standard error.
    const logger = createServerLogger({ level: loaded.config.server.logLevel, ...(json() ? { destination: 2, pretty: process.stderr.isTTY === true } : {}) });
    const composition = await composeServer(loaded, { logger });
    const app = await buildHttpApi({ composition, host: loaded.config.server.host, auth: loaded.config.server.auth, logger });
    composition.engine.start();
    composition.webhookDispatcher.start();
    const address = await app.listen({ host: loaded.config.server.host, port: loaded.config.server.port });
    say(json() ? JSON.stringify({ listening: address }) : `cairn serving ${address} (data in ${loaded.paths.dataDirectory}); Ctrl-C stops`);
    const stop = async () => {
      await app.close();
      await composition.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop());
    process.once('SIGTERM', () => void stop());
  });

program
  .command('submit')
  .argument('<spec>', 'a run spec, YAML or JSON')
  .option('--workspace <dir>', 'snapshot this directory (a git tree, or every file) and run over it')
  .option('--wait', 'follow the run until it ends; exit 1 unless it succeeded')
  .option('--idempotency-key <key>', 'the same key and spec return the same run')
  .option('--server <url>', 'the server (default: this config\'s server.host:server.port)')
  .description('submit a run to a running server')
  .action(async (file: string, options: { workspace?: string; wait?: boolean; idempotencyKey?: string; server?: string }) => {
    const cairn = clientOf(options.server);
    let spec: unknown = readFileSync(file, 'utf8');
    if (options.workspace) {
      const snapshot = await snapshotWorkspace(options.workspace);
      const digest = await cairn.uploadBlob(snapshot.bytes);
      spec = { ...(parseRunSpec(spec as string, { source: file }) as object), workspace: { snapshot: digest } };
      if (!json()) say(`workspace ${options.workspace}: ${snapshot.entries} files, ${digest}`);
    }
    const submitted = await cairn.submit(spec, options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {});
    if (!options.wait) {
      say(json() ? JSON.stringify(submitted) : `run ${submitted.runId} ${submitted.created ? 'submitted' : 'already existed (same idempotency key and spec)'}`);
      return;
    }
    if (!json()) say(`run ${submitted.runId}`);
    const progress = new RunProgress(await cairn.items(submitted.runId), progressOutput(json()));
    const run = await cairn.waitForRun(submitted.runId, { onEvent: (event) => progress.onEvent(event) });
    progress.done();
    say(json() ? JSON.stringify(run) : `run ${run.state}: ${run.itemsFinished}/${run.itemsTotal} items finished, ${run.itemsFailed} failed`);
    process.exitCode = run.state === 'succeeded' ? 0 : 1;
  });

program
  .command('status')
  .argument('<runId>', 'the run (its id, as submit printed it)')
  .option('--server <url>', 'the server')
  .description("a run and its items")
  .action(async (runId: string, options: { server?: string }) => {
    const cairn = clientOf(options.server);
    const [run, items] = await Promise.all([cairn.run(runId), cairn.items(runId)]);
    if (json()) return void say(JSON.stringify({ run, items }));
    say(`run ${run.runId} (${run.name}): ${run.state}`);
    for (const item of items) say(`  ${item.itemId.padEnd(16)} ${item.state}`);
  });

program
  .command('watch')
  .argument('<runId>', 'the run (its id, as submit printed it)')
  .option('--server <url>', 'the server')
  .description("follow a run's events until it ends (resumes after a dropped connection)")
  .action(async (runId: string, options: { server?: string }) => {
    const cairn = clientOf(options.server);
    // With --json, every event is a line of its own for scripts; otherwise the items' progress.
    const progress = json() ? undefined : new RunProgress(await cairn.items(runId), progressOutput(false));
    const run = await cairn.waitForRun(runId, { onEvent: (event) => (progress ? progress.onEvent(event) : say(JSON.stringify(event))) });
    progress?.done();
    if (!json()) say(`run ${run.state}`);
    process.exitCode = run.state === 'succeeded' ? 0 : 1;
  });

for (const [name, description] of [
  ['cancel', 'cancel a run, or one item of it'],
  ['approve', 'approve an item awaiting approval'],
  ['reject', 'reject an item awaiting approval (it fails, with --reason)'],
] as const) {
  program
    .command(name)
    .argument('<runId>', 'the run (its id, as submit printed it)')
    .argument(name === 'cancel' ? '[itemId]' : '<itemId>', name === 'cancel' ? 'one item to cancel (default: the whole run)' : 'the item awaiting approval')
    .option('--reason <text>', 'why (reject)')
    .option('--server <url>', 'the server')
    .description(description)
    .action(async (runId: string, itemId: string | undefined, options: { reason?: string; server?: string }) => {
      const cairn = clientOf(options.server);
      const result = name === 'approve' ? await cairn.approve(runId, itemId!) : name === 'reject' ? await cairn.reject(runId, itemId!, options.reason) : itemId ? await cairn.cancelItem(runId, itemId) : await cairn.cancel(runId);
      say(json() ? JSON.stringify(result) : `${name === 'cancel' ? 'cancel requested' : `${name}d`}: ${itemId ? `item ${itemId} of ` : ''}run ${runId}`);
    });
}

program
  .command('patch')
  .argument('<runId>', 'the run (its id, as submit printed it)')
  .argument('<itemId>', 'the item whose patch to print')
  .option('--server <url>', 'the server')
  .description("print a succeeded item's patch (apply it with git apply)")
  .action(async (runId: string, itemId: string, options: { server?: string }) => {
    process.stdout.write(await clientOf(options.server).patch(runId, itemId));
  });

program
  .command('verify')
  .argument('<bundle>', 'an evidence bundle (cairn.bundle/v1) file')
  .option('--trusted-key <keyId...>', 'key ids the checkpoint must be signed by (sha256:...)')
  .option('--online', "also read each anchor live (a 'file' anchor from its directory); without it nothing is read but the file")
  .description('verify an evidence bundle (offline unless --online); exit 1 unless every check it ran passed')
  .action(async (file: string, options: { trustedKey?: string[]; online?: boolean }) => {
    const report = await verifyEvidence(new Uint8Array(readFileSync(file)), { ...(options.trustedKey ? { trustedKeyIds: options.trustedKey } : {}), online: options.online === true });
    if (json()) say(JSON.stringify(report));
    else for (const line of formatVerificationReport(report)) say(line);
    process.exitCode = report.valid ? 0 : 1;
  });

program
  .command('mcp')
  .option('--server <url>', 'the server (default: this config\'s server.host:server.port)')
  .description('an MCP server on stdio for an AI client: submit runs, follow them, read patches (use a token with only runs:submit and runs:read)')
  .action(async (options: { server?: string }) => {
    const { buildMcpServer } = await import('@cairn/mcp');
    const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
    // stdout is the protocol's: anything this command says goes to stderr.
    await buildMcpServer(clientOf(options.server)).connect(new StdioServerTransport());
    process.stderr.write('cairn mcp: serving on stdio\n');
  });

const schedule = program.command('schedule').description('cron schedules of a running server');
schedule
  .command('add')
  .description('add a schedule: each slot submits the spec as run <id>@<slot time>')
  .argument('<spec>', 'the run spec each slot submits')
  .requiredOption('--id <scheduleId>', 'the schedule id (runs are <id>@<slot time>)')
  .requiredOption('--cron <expression>', 'a cron expression, e.g. "0 9 * * 1-5"')
  .option('--time-zone <zone>', 'an IANA time zone (default UTC)')
  .option('--catch-up <policy>', 'skip (default), latest, or all:<n>')
  .option('--overlap <policy>', 'skip (default), allow, or cancel-previous')
  .option('--server <url>', 'the server')
  .action(async (file: string, options: { id: string; cron: string; timeZone?: string; catchUp?: string; overlap?: string; server?: string }) => {
    const catchUp = options.catchUp?.startsWith('all:') ? { all: Number(options.catchUp.slice(4)) } : options.catchUp;
    const added = await clientOf(options.server).addSchedule({ scheduleId: options.id, cron: options.cron, spec: readFileSync(file, 'utf8'), ...(options.timeZone ? { timeZone: options.timeZone } : {}), ...(catchUp ? { catchUp } : {}), ...(options.overlap ? { overlap: options.overlap } : {}) });
    say(json() ? JSON.stringify(added) : `schedule ${options.id} added; next slot ${String(added['nextSlot'])}`);
  });
schedule
  .command('list')
  .description('the schedules and their next slots')
  .option('--server <url>', 'the server')
  .action(async (options: { server?: string }) => {
    const schedules = await clientOf(options.server).schedules();
    if (json()) say(JSON.stringify(schedules));
    else for (const item of schedules) say(`${String(item['scheduleId']).padEnd(20)} ${String(item['cron']).padEnd(16)} ${String(item['timeZone']).padEnd(16)} next ${String(item['nextSlot'])}`);
  });
schedule
  .command('rm')
  .description('remove a schedule (the runs it made stay)')
  .argument('<scheduleId>', 'the schedule id')
  .option('--server <url>', 'the server')
  .action(async (scheduleId: string, options: { server?: string }) => {
    await clientOf(options.server).removeSchedule(scheduleId);
    say(json() ? JSON.stringify({ removed: scheduleId }) : `schedule ${scheduleId} removed`);
  });

const secret = program.command('secret').description('secrets of a running server (values are write-only)');
secret
  .command('set')
  .argument('<name>', 'an environment variable name (what the task receives)')
  .option('--server <url>', 'the server')
  .description('set a secret; the value is read from standard input, never from the command line')
  .action(async (name: string, options: { server?: string }) => {
    if (process.stdin.isTTY) process.stderr.write(`value of ${name} (then Enter and Ctrl-D): `);
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const value = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
    const set = await clientOf(options.server).setSecret(name, value);
    say(json() ? JSON.stringify(set) : `secret ${set.name} set (version ${set.version})`);
  });
secret
  .command('list')
  .description('secret names, versions and who set them (never values)')
  .option('--server <url>', 'the server')
  .action(async (options: { server?: string }) => {
    const secrets = await clientOf(options.server).secrets();
    if (json()) say(JSON.stringify(secrets));
    else for (const item of secrets) say(`${item.name.padEnd(24)} version ${item.version}  set ${item.updatedAt} by ${item.updatedBy}`);
  });
secret
  .command('rm')
  .description('remove a secret (runs that name it fail at dispatch)')
  .argument('<name>', 'the secret name')
  .option('--server <url>', 'the server')
  .action(async (name: string, options: { server?: string }) => {
    await clientOf(options.server).removeSecret(name);
    say(json() ? JSON.stringify({ removed: name }) : `secret ${name} removed`);
  });

const token = program.command('token').description('bearer tokens of this server (stored hashed)');
token
  .command('create')
  .requiredOption('--name <name>', 'what the token is for')
  .requiredOption('--scope <scope...>', `scopes: ${tokenScopes.join(', ')}`)
  .description('make a token; it is shown once')
  .action((options: { name: string; scope: string[] }) => {
    const created = new TokenStore(loadServerConfig(configOption()).paths.tokens).create(options.name, options.scope);
    say(json() ? JSON.stringify(created) : `${created.token}\n(token ${created.record.id}, ${created.record.scopes.join(' ')}; shown once, only its hash is kept)`);
  });
token
  .command('list')
  .description('tokens, without their secrets')
  .action(() => {
    const tokens = new TokenStore(loadServerConfig(configOption()).paths.tokens).list();
    if (json()) say(JSON.stringify(tokens));
    else for (const record of tokens) say(`${record.id}  ${record.name.padEnd(20)} ${record.scopes.join(' ').padEnd(30)} ${record.revokedAt ? `revoked ${record.revokedAt}` : `since ${record.createdAt}`}`);
  });
token
  .command('revoke')
  .argument('<id>', 'the token id (cairn token list)')
  .description('revoke a token; a running server refuses it from its next request')
  .action((id: string) => {
    const record = new TokenStore(loadServerConfig(configOption()).paths.tokens).revoke(id);
    say(json() ? JSON.stringify(record) : `token ${record.id} revoked`);
  });

addRunListCommands();
addAuditCommands();
addReportCommands();
addDemoCommands();
addBackupCommands();
addWebhookCommands();

// Parse only when run as the `cairn` command, not when a program imports the commands (the CLI
// reference in docs/ is generated from them).
if (isEntryPoint(import.meta.url)) await runCommandLine();
