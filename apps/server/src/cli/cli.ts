#!/usr/bin/env -S node --max-semi-space-size=16
// `cairn`: the command line of the reference server. Each command prints for people, or with
// --json one JSON document for scripts; exit codes: 0 done, 1 a check or run failed, 2 bad input
// (an invalid spec, config, request or command line), 3 anything else, 5 the server unreachable.
import { enableCompileCache } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isEntryPoint } from './is-entry-point.ts';

// Parse only when run as the `cairn` command, not when a program imports the commands (the CLI
// reference in docs/ is generated from them).
const runAsCairn = isEntryPoint(import.meta.url);
// V8 keeps the code it compiled of each module on disk, so a start compiles only the files changed
// since the last one: from the source, that is most of what a start costs. Enabled before the
// commands are imported (hence the import() below), or it would not cover them.
if (runAsCairn) enableCompileCache(compileCacheFolder());
const { addAllCommands } = await import('./cli-commands.ts');
addAllCommands();
if (runAsCairn) await (await import('./cli-program.ts')).runCommandLine();

/**
 * NODE_COMPILE_CACHE, or the user's own cache folder (XDG_CACHE_HOME, else ~/.cache), never Node's
 * default in the shared temporary folder: compiled code is run as it is read back, so a folder
 * another user could write to first would run their code as whoever starts `cairn` next (root,
 * often). NODE_DISABLE_COMPILE_CACHE=1 turns the cache off; a folder that cannot be made leaves it
 * off, silently.
 */
function compileCacheFolder(): string {
  const { NODE_COMPILE_CACHE, XDG_CACHE_HOME } = process.env;
  if (NODE_COMPILE_CACHE) return NODE_COMPILE_CACHE;
  return join(XDG_CACHE_HOME || join(homedir(), '.cache'), 'cairn', 'node-compile-cache');
}
