// Run by node on its own (`node upload-workspace-child.test-support.ts <baseUrl> <token> <folder>`):
// uploads a workspace with the built client, as `cairn submit --workspace` does, and prints one
// JSON line: what it uploaded, how long it took and this process's peak resident memory.
import { readFileSync } from 'node:fs';
import { createCairnClient } from '@cairn/client';

const [baseUrl, token, workspace] = process.argv.slice(2) as [string, string, string];
const started = performance.now();
const uploaded = await createCairnClient({ baseUrl, token }).uploadWorkspace(workspace);
const milliseconds = performance.now() - started;
const peak = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
process.stdout.write(`${JSON.stringify({ ...uploaded, milliseconds, peakBytes: Number(peak) * 1024 })}\n`);
