#!/usr/bin/env -S node --max-semi-space-size=16
// `cairn`: the command line of the reference server. Each command prints for people, or with
// --json one JSON document for scripts; exit codes: 0 done, 1 a check or run failed, 2 bad input
// (an invalid spec, config, request or command line), 3 anything else, 5 the server unreachable.
import { enableCompileCache } from 'node:module';
import { isEntryPoint } from './is-entry-point.ts';

// Parse only when run as the `cairn` command, not when a program imports the commands (the CLI
// reference in docs/ is generated from them).
const runAsCairn = isEntryPoint(import.meta.url);
// V8 keeps the code it compiled of each module on disk (the temporary folder's node-compile-cache,
// or NODE_COMPILE_CACHE; NODE_DISABLE_COMPILE_CACHE=1 turns it off), so a start compiles only the
// files changed since the last one: from the source, that is most of what a start costs. Enabled
// before the commands are imported (hence the import() below), or it would not cover them.
if (runAsCairn) enableCompileCache();
const { addAllCommands } = await import('./cli-commands.ts');
addAllCommands();
if (runAsCairn) await (await import('./cli-program.ts')).runCommandLine();
