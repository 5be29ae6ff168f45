import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/**
 * A stand-in for an agent CLI (Claude Code, Codex): a Node script that reads its argv as they do —
 * options, then `--`, then the prompt. A prompt that is a conformance
 * scenario is acted out; any other prompt gets a stream-json session that reports the options,
 * prompt, working directory and environment it was started with, and writes hello.txt.
 */
export const standInSource = `#!${process.execPath}
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
const args = process.argv.slice(2);
const separator = args.indexOf('--');
const options = separator === -1 ? args : args.slice(0, separator);
const prompt = separator === -1 ? undefined : args.slice(separator + 1).join(' ');
const event = (value) => process.stdout.write(JSON.stringify(value) + '\\n');
let scenario;
try { scenario = JSON.parse(prompt); } catch { scenario = { kind: 'session' }; }
switch (scenario.kind) {
  case 'write-file': mkdirSync(dirname(scenario.path), { recursive: true }); writeFileSync(scenario.path, scenario.content); break;
  case 'exit': process.exitCode = scenario.exitCode; break;
  case 'print': process.stdout.write(scenario.stdout); process.stderr.write(scenario.stderr); break;
  case 'print-working-directory': process.stdout.write(process.cwd() + '\\n'); break;
  case 'run-until-aborted': setInterval(() => {}, 1000); break;
  case 'spawn-and-wait': {
    const child = spawn('/bin/sleep', ['60'], { stdio: 'ignore' });
    writeFileSync('child.pid', String(child.pid));
    setInterval(() => {}, 1000);
    break;
  }
  default:
    event({ type: 'system', subtype: 'init', cwd: process.cwd(), options, prompt, env: process.env });
    writeFileSync('hello.txt', 'hello from claude\\n');
    event({ type: 'assistant', message: { role: 'assistant', content: [{ type: 'text', text: 'Wrote hello.txt.' }] } });
    process.stderr.write('a warning on stderr\\n');
    event({ type: 'result', subtype: 'success', is_error: false, result: 'Wrote hello.txt.', num_turns: 1 });
}
`;

/** Writes the stand-in as `name` in a folder of its own (removed after the file's tests); its path. */
export function standInAgentCli(name: string): string {
  const directory = mkdtempSync(join(tmpdir(), `cairn-fake-${name}-`));
  const program = join(directory, name);
  writeFileSync(program, standInSource);
  chmodSync(program, 0o755);
  afterAll(() => rmSync(directory, { recursive: true, force: true }));
  return program;
}
