// Run in a Node of its own by workspace-upload.bench.ts: uploads a workspace with the client, as
// `cairn submit --workspace` does, and prints one JSON line: what it uploaded, how long it took and
// this process's peak resident memory (VmHWM).
import { readFileSync } from 'node:fs';
import { createCairnClient } from '@cairn/client';

const [baseUrl, token, workspace] = process.argv.slice(2) as [string, string, string];
const started = performance.now();
const uploaded = await createCairnClient({ baseUrl, token }).uploadWorkspace(workspace);
const milliseconds = performance.now() - started;
const peak = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
process.stdout.write(`${JSON.stringify({ ...uploaded, milliseconds, peakBytes: Number(peak) * 1024 })}\n`);
