#!/usr/bin/env -S node --max-semi-space-size=32
// `cairn`: the command line of the reference server. Each command prints for people, or with
// --json one JSON document for scripts; exit codes: 0 done, 1 a check or run failed, 2 bad input
// (an invalid spec or config), 3 an unexpected error.
import { readFileSync } from 'node:fs';
import { isCairnError, loadRunSpec } from '@cairn/protocol';
import { Command } from 'commander';
import { tokenScopes } from '../auth/token-scopes.ts';
import { TokenStore } from '../auth/token-store.ts';
import { composeServer } from '../composition/compose-server.ts';
import { loadServerConfig } from '../config/load-server-config.ts';
import { buildHttpApi } from '../http/http-server.ts';
import { diagnoseServer } from './diagnose-server.ts';
import { initServer } from './init-server.ts';

const program = new Command('cairn').description('Run AI-agent work unattended, and prove what ran.').option('--json', 'print one JSON document instead of text').option('--config <file>', 'the server config (default: cairn.config.* here)');
const json = () => program.opts<{ json?: boolean }>().json === true;
const say = (text: string): void => void process.stdout.write(`${text}\n`);

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
  .description('run the server: the engine and its HTTP API (loopback only, for now)')
  .action(async () => {
    const loaded = loadServerConfig(configOption());
    const composition = await composeServer(loaded);
    const app = await buildHttpApi({ composition, host: loaded.config.server.host, auth: loaded.config.server.auth, logger: !json() });
    composition.engine.start();
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

function configOption(): { file?: string } {
  const file = program.opts<{ config?: string }>().config;
  return file === undefined ? {} : { file };
}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (isCairnError(error)) {
    const input = error.code.startsWith('CAIRN_RUN_SPEC') || error.code === 'CAIRN_CONFIG_INVALID';
    if (json()) process.stderr.write(`${JSON.stringify(error)}\n`);
    else {
      process.stderr.write(`${error.code}: ${error.message}\n`);
      for (const issue of error.issues) process.stderr.write(`  ${issue.path}  ${issue.message}\n`);
    }
    process.exitCode = input ? 2 : 3;
  } else {
    process.stderr.write(`unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 3;
  }
}
