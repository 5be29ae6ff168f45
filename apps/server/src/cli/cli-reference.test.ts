// docs/reference/cli.md is generated from the `cairn` program itself, so the reference cannot drift
// from the commands. Regenerate it with
// `CAIRN_WRITE_DOCS=1 pnpm exec vitest run apps/server/src/cli/cli-reference.test.ts`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { expect, test } from 'vitest';
import { program } from './cli-program.ts';
// Registers every command on `program` (it parses only when run as `cairn`).
import './cli.ts';

const referencePath = join(import.meta.dirname, '..', '..', '..', '..', 'docs', 'reference', 'cli.md');

function renderCommand(command: Command, parents: string[]): string[] {
  const path = [...parents, command.name()];
  const subcommands = command.commands.filter((sub) => sub.name() !== 'help');
  const usage = `${path.join(' ')} ${command.usage()}`.trim();
  // A group is named alone; a command that also runs itself (`cairn verify <bundle>`, beside `cairn verify provenance`) shows its usage.
  const group = subcommands.length > 0 && command.registeredArguments.length === 0;
  const lines = [`### \`${group ? path.join(' ') : usage}\``, '', `${command.description()}`, ''];
  const args = command.registeredArguments;
  const options = command.options.filter((option) => !option.hidden);
  if (args.length + options.length > 0) {
    lines.push('| argument or option | meaning |', '|---|---|');
    for (const argument of args)
      lines.push(
        `| \`${argument.required ? `<${argument.name()}>` : `[${argument.name()}]`}\` | ${argument.description}${argument.defaultValue === undefined ? '' : ` (default \`${String(argument.defaultValue)}\`)`} |`,
      );
    for (const option of options)
      lines.push(`| \`${option.flags}\` | ${option.description}${option.defaultValue === undefined ? '' : ` (default \`${String(option.defaultValue)}\`)`} |`);
    lines.push('');
  }
  return [...lines, ...subcommands.flatMap((sub) => renderCommand(sub, path))];
}

function renderCliReference(): string {
  const commands = program.commands.filter((command) => command.name() !== 'help');
  return [
    '# `cairn` command reference',
    '',
    'The command line of the reference server (`@cairn/server`). This page is generated from the',
    'commands themselves and checked by `apps/server/src/cli/cli-reference.test.ts`.',
    '',
    '## Every command',
    '',
    '| option | meaning |',
    '|---|---|',
    ...program.options.map((option) => `| \`${option.flags}\` | ${option.description} |`),
    '',
    '- **Output**: text for people; with `--json`, one JSON document on stdout (errors as one JSON',
    '  document on stderr), for scripts.',
    '- **Exit codes**: `0` done; `1` a check failed or a run did not succeed (`verify`, `doctor`,',
    '  `submit --wait`, `watch`, `audit verify-log`); `2` bad input (an invalid run spec, config, request',
    '  or command line: an unknown command or option, a missing argument); `3` anything else (a refused',
    '  request, an unexpected error); `4` (`verify` only) nothing failed, but no trusted key was given, so',
    '  nothing was verified (verdict `untrusted-signer`); `5` the server could not be reached',
    '  (`CAIRN_SERVER_UNREACHABLE`, naming the URL); `130` interrupted (Ctrl-C while following a run: the',
    '  run goes on, `cairn watch` follows it again).',
    '- **Which server**: commands that talk to a running server use the first of `--server <url>`;',
    '  `CAIRN_SERVER`; the context named by `--context` or `CAIRN_CONTEXT`; the `server.host`/`server.port`',
    '  of the config (`--config`, else `cairn.config.*` in the current directory); the current context',
    '  (`cairn context add|use|list|rm`, kept 0600 in `~/.config/cairn/client.yaml` or',
    "  `$CAIRN_CLIENT_CONFIG`). The bearer token is `CAIRN_TOKEN`, else the chosen context's.",
    '- **Colour**: only on a terminal, and never with `NO_COLOR` set.',
    '- **Secrets never go on the command line**: `cairn secret set` reads the value from standard',
    '  input.',
    '',
    '## Commands',
    '',
    ...commands.flatMap((command) => renderCommand(command, ['cairn'])),
  ].join('\n');
}

test('docs/reference/cli.md describes exactly the commands, arguments and options of `cairn`', () => {
  const expected = renderCliReference();
  if (process.env['CAIRN_WRITE_DOCS'] === '1') writeFileSync(referencePath, expected);
  expect(readFileSync(referencePath, 'utf8')).toBe(expected);
});

test('every command, argument and option says what it is for', () => {
  const undescribed: string[] = [];
  const visit = (command: Command, path: string): void => {
    if (!command.description()) undescribed.push(path);
    for (const argument of command.registeredArguments) if (!argument.description) undescribed.push(`${path} <${argument.name()}>`);
    for (const option of command.options) if (!option.description) undescribed.push(`${path} ${option.flags}`);
    for (const sub of command.commands) visit(sub, `${path} ${sub.name()}`);
  };
  visit(program, 'cairn');
  expect(undescribed).toEqual([]);
});

test('every default shown is a value a person could type (an object default printed as [object Object])', () => {
  expect(
    renderCliReference()
      .split('\n')
      .filter((line) => line.includes('[object ')),
  ).toEqual([]);
});
