// A walkthrough never shows a command that talks to a running server before the page has started
// one: a reader who runs the page top to bottom would meet "server unreachable" (exit 5) instead.
//
// Which commands need a server is read from the CLI reference (docs/reference/cli.md, generated from
// the commands and kept fresh by apps/server/src/cli/cli-reference.test.ts): every command with a
// `--server <url>` option talks to one, but for the few listed in `offlineWithServerOption`. A
// server is started by `cairn serve`, or `cairn demo --keep-serving` (a plain `cairn demo` stops its
// own server when it ends). A page whose commands need a server the reader already runs says so,
// in prose, with the marker `**Prerequisite: a running server**`: from that line on, the page's
// commands may talk to one (put it at the top for the whole page, or at a section's start).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { documentationPages, pageLines, pageName } from './support/documentation-pages.ts';
import { repositoryRoot } from './support/workspace.ts';

/** The pages a reader runs from top to bottom: the walkthrough and the operations guides. */
const walkthroughs = documentationPages().filter((page) => /^docs\/(getting-started\.md|operations\/)/.test(pageName(page)));

const prerequisiteMarker = '**Prerequisite: a running server**';

/** Commands with a `--server` option that do not need a server running, and why. */
const offlineWithServerOption: Readonly<Record<string, string>> = {
  demo: 'without --server it runs a server of its own (with --server it needs one: checked apart)',
  'context add': 'records the address; it calls nothing',
  dashboard: "in the server's folder it writes the sign-in code to the token store itself",
  'secret set': "in the server's folder it seals and stores the secret itself (through the server only while one holds the folder)",
};

/** Fences whose lines are commands a reader types (a bare fence and `text` hold them too, beside output). */
const commandFences = new Set(['sh', 'bash', 'shell', 'console', 'text', '']);

/** The `cairn` commands (`submit`, `token create`, …) that have a `--server <url>` option, from the CLI reference. */
function commandsWithServerOption(): Set<string> {
  const reference = readFileSync(join(repositoryRoot, 'docs/reference/cli.md'), 'utf8');
  const found = new Set<string>();
  for (const section of reference.split(/^### /m).slice(1)) {
    const name = /^`cairn ([a-z][\w-]*(?: [a-z][\w-]*)*)/.exec(section)?.[1];
    if (name !== undefined && /^\| `--server <url>` \|/m.test(section)) found.add(name);
  }
  return found;
}

/** One `cairn` invocation in a code block: its command words after the global options, and its line. */
interface Invocation {
  readonly line: number;
  readonly words: readonly string[];
}

/** The `cairn` invocations of a page's command blocks, and the line of its prerequisite marker, if any. */
function invocationsOf(page: string): { invocations: Invocation[]; markerLine?: number } {
  const invocations: Invocation[] = [];
  let markerLine: number | undefined;
  let continued = '';
  let continuedFrom = 0;
  for (const line of pageLines(page)) {
    if (line.fence === undefined) {
      if (markerLine === undefined && line.text.includes(prerequisiteMarker)) markerLine = line.number;
      continue;
    }
    if (!commandFences.has(line.fence)) continue;
    if (continued === '') continuedFrom = line.number;
    const text = continued + line.text.replace(/^\s*\$ /, '');
    if (text.endsWith('\\')) {
      continued = `${text.slice(0, -1)} `;
      continue;
    }
    continued = '';
    // Comments go; then each command of a list or pipeline (&&, ||, ;, |, $( … ), a loop's condition).
    // Placeholders (`<operator token>`) are one word, whatever they hold.
    const code = text.replace(/(^|\s)#.*$/, '').replace(/<[A-Za-z][^<>]*>/g, 'PLACEHOLDER');
    for (const segment of code.split(/&&|\|\||[;|&()`]|\$\(/)) {
      const words = segment.trim().split(/\s+/);
      while (words.length > 0 && (/^[A-Za-z_]\w*=/.test(words[0]!) || ['until', 'while', 'if', 'do', 'then', '!', 'time', 'exec', 'sudo'].includes(words[0]!)))
        words.shift();
      if (words[0] !== 'cairn') continue;
      const rest = words.slice(1);
      // The options every command takes come before the command's name.
      while (rest[0]?.startsWith('-')) rest.splice(0, ['--config', '--context'].includes(rest[0]) ? 2 : 1);
      invocations.push({ line: continuedFrom, words: rest });
    }
  }
  return markerLine === undefined ? { invocations } : { invocations, markerLine };
}

/** The name of the command `words` run, as the reference spells it (`token create`, `submit`). */
function commandName(words: readonly string[], known: ReadonlySet<string>): string {
  const two = words.slice(0, 2).join(' ');
  return known.has(two) ? two : (words[0] ?? '');
}

/** Every line of `page` that runs a server-needing command before the page starts a server or states one runs. */
function commandsBeforeAServer(page: string, needServer: ReadonlySet<string>): string[] {
  const { invocations, markerLine } = invocationsOf(page);
  const problems: string[] = [];
  let serving = false;
  for (const { line, words } of invocations) {
    const name = commandName(words, needServer);
    if (name === 'serve' || (name === 'demo' && words.includes('--keep-serving'))) serving = true;
    const needs = needServer.has(name) || (name === 'demo' && words.includes('--server'));
    if (!needs || serving || (markerLine !== undefined && markerLine < line)) continue;
    problems.push(
      `${pageName(page)}:${line}: \`cairn ${words.join(' ')}\` talks to a running server, but the page has not started one (cairn serve) nor stated the prerequisite (${prerequisiteMarker}) before it`,
    );
  }
  return problems;
}

test('the commands that need a server are read from the CLI reference', () => {
  const withOption = commandsWithServerOption();
  // The reference is read as expected: the run commands have the option, the offline ones not.
  for (const name of ['submit', 'status', 'runs', 'audit bundle', 'secret list']) expect(withOption).toContain(name);
  for (const name of ['init', 'doctor', 'serve', 'token create', 'verify', 'backup', 'key id']) expect(withOption).not.toContain(name);
  // Each exception is a command that exists, so a rename cannot leave a stale one behind.
  for (const name of Object.keys(offlineWithServerOption)) expect(withOption).toContain(name);
});

test('no walkthrough shows a command that needs a running server before it starts one', () => {
  const needServer = new Set([...commandsWithServerOption()].filter((name) => !(name in offlineWithServerOption)));
  expect(walkthroughs.map(pageName)).toContain('docs/getting-started.md');
  expect(walkthroughs.map(pageName)).toContain('docs/operations/configuration.md');
  // Not vacuous: the pages run dozens of cairn commands, a few of them against a server.
  const invocations = walkthroughs.flatMap((page) => invocationsOf(page).invocations);
  expect(invocations.length).toBeGreaterThan(20);
  expect(invocations.filter(({ words }) => needServer.has(commandName(words, needServer))).length).toBeGreaterThan(5);
  expect(walkthroughs.flatMap((page) => commandsBeforeAServer(page, needServer))).toEqual([]);
});
