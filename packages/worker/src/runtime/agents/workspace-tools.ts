import { constants } from 'node:fs';
import { mkdir, open, readdir, readlink, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { RuntimeSinks } from '@cairn/core';
import { isCairnError } from '@cairn/protocol';
import { z } from 'zod';
import type { CommandRuntime } from '../command-runtime.ts';
import { resolveConfinedPath } from './confined-path.ts';

/** What the workspace tools work on; built once per run. */
export interface WorkspaceToolContext {
  /** The workspace as the invocation gave it: the working directory of `exec`. */
  readonly workspace: string;
  /** Its real path, which every file tool's path must stay under. */
  readonly root: string;
  /** The environment of `exec` (the invocation's, without the model endpoint's key). */
  readonly env: Readonly<Record<string, string>>;
  readonly network: boolean;
  /** The run's signal: it stops a running `exec` too. */
  readonly signal: AbortSignal;
  /** Where `exec` output streams as it is produced, as a command runtime's would. */
  readonly sinks: RuntimeSinks;
  /** Spawns `exec` (process group, launch hook, kill on abort). */
  readonly commands: CommandRuntime;
  readonly execTimeoutMs: number;
  /** The most of a file or of each output stream handed back to the model. */
  readonly maxOutputBytes: number;
}

/** What a tool call came to. */
export interface ToolOutcome {
  /** The tool message's content, for the model. */
  readonly content: string;
  /** One line for the transcript. */
  readonly summary: string;
  /** Set by `finish`: end the run with this exit code. */
  readonly finish?: { readonly exitCode: number };
}

/** The `tools` of a Chat Completions request: the functions the model may call. */
export const workspaceToolDefinitions = [
  functionTool('read_file', 'Read a text file of the workspace.', {
    properties: { path: { type: 'string', description: 'Path relative to the workspace root.' } },
    required: ['path'],
  }),
  functionTool('write_file', 'Create or overwrite a file of the workspace with the given text; missing parent directories are created.', {
    properties: { path: { type: 'string', description: 'Path relative to the workspace root.' }, content: { type: 'string' } },
    required: ['path', 'content'],
  }),
  functionTool('list_files', 'List the files and directories under a directory of the workspace, recursively (directories end with /).', {
    properties: { path: { type: 'string', description: 'Directory relative to the workspace root; the root when left out.' } },
    required: [],
  }),
  functionTool(
    'exec',
    'Run a program in the workspace and get its exit code and output. No shell: argv[0] is the program (looked up on PATH), the rest its arguments; use ["sh", "-c", "..."] for a pipeline.',
    {
      properties: { argv: { type: 'array', items: { type: 'string' }, minItems: 1 } },
      required: ['argv'],
    },
  ),
  functionTool('finish', 'End the run now. exitCode 0 (the default) says the task is done; a non-zero exitCode says it could not be done, and the run fails.', {
    properties: { exitCode: { type: 'integer', minimum: 0, maximum: 255 } },
    required: [],
  }),
] as const;

function functionTool(name: string, description: string, parameters: { properties: Record<string, unknown>; required: string[] }) {
  return { type: 'function', function: { name, description, parameters: { type: 'object', ...parameters } } } as const;
}

// Loose objects: models sometimes add keys of their own, which are ignored rather than fatal.
const argumentSchemas = {
  read_file: z.object({ path: z.string() }),
  write_file: z.object({ path: z.string(), content: z.string() }),
  list_files: z.object({ path: z.string().optional() }),
  exec: z.object({ argv: z.array(z.string()).min(1) }),
  finish: z.object({ exitCode: z.int().min(0).max(255).optional() }),
};

/** The most entries `list_files` returns, so a huge tree does not flood the model's context. */
const maxListedEntries = 1_000;
/** Directories `list_files` names but does not descend into unless asked for them directly. */
const unlistedDirectories = new Set(['.git', 'node_modules']);

/**
 * Runs one tool call. Everything the model got wrong (an unknown tool, bad JSON, a refused path, a
 * missing file, a program that does not start) comes back as an error message for it to read, not
 * as an exception: the run goes on and the model can correct itself.
 */
export async function runWorkspaceTool(name: string, argumentsText: string, context: WorkspaceToolContext): Promise<ToolOutcome> {
  if (!Object.hasOwn(argumentSchemas, name)) return failure(`unknown tool ${JSON.stringify(name)}; the tools are ${Object.keys(argumentSchemas).join(', ')}`);
  let parsedJson: unknown;
  try {
    parsedJson = argumentsText.trim() === '' ? {} : JSON.parse(argumentsText);
  } catch {
    return failure('the arguments are not valid JSON');
  }
  try {
    switch (name as keyof typeof argumentSchemas) {
      case 'read_file': {
        const parsed = argumentSchemas.read_file.safeParse(parsedJson);
        return parsed.success ? await readFileTool(parsed.data.path, context) : invalid(parsed.error);
      }
      case 'write_file': {
        const parsed = argumentSchemas.write_file.safeParse(parsedJson);
        return parsed.success ? await writeFileTool(parsed.data.path, parsed.data.content, context) : invalid(parsed.error);
      }
      case 'list_files': {
        const parsed = argumentSchemas.list_files.safeParse(parsedJson);
        return parsed.success ? await listFilesTool(parsed.data.path ?? '.', context) : invalid(parsed.error);
      }
      case 'exec': {
        const parsed = argumentSchemas.exec.safeParse(parsedJson);
        return parsed.success ? await execTool(parsed.data.argv, context) : invalid(parsed.error);
      }
      case 'finish': {
        const parsed = argumentSchemas.finish.safeParse(parsedJson);
        if (!parsed.success) return invalid(parsed.error);
        const exitCode = parsed.data.exitCode ?? 0;
        return { content: `finished with exit code ${exitCode}`, summary: `finished with exit code ${exitCode}`, finish: { exitCode } };
      }
    }
  } catch (error) {
    // A file-system failure the checks did not foresee (EACCES, ELOOP, EISDIR): the model's to handle.
    return failure((error as Error).message);
  }
}

async function readFileTool(path: string, context: WorkspaceToolContext): Promise<ToolOutcome> {
  const target = await resolveConfinedPath(context.root, path, 'existing');
  if (!target.ok) return refused(path, target.reason);
  // O_NONBLOCK: a FIFO planted in the workspace must not hang the worker's own process.
  const handle = await open(target.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const info = await handle.stat();
    if (info.isDirectory()) return failure(`${path} is a directory; use list_files`);
    if (!info.isFile()) return failure(`${path} is not a regular file`);
    const buffer = Buffer.alloc(Math.min(info.size, context.maxOutputBytes));
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, bytesRead).toString('utf8');
    const more = info.size - bytesRead;
    return {
      content: more > 0 ? `${text}\n[… ${more} more bytes not shown]` : text,
      summary: `read ${bytesRead} of ${info.size} bytes`,
    };
  } finally {
    await handle.close();
  }
}

async function writeFileTool(path: string, content: string, context: WorkspaceToolContext): Promise<ToolOutcome> {
  const target = await resolveConfinedPath(context.root, path, 'write');
  if (!target.ok) return refused(path, target.reason);
  await mkdir(dirname(target.path), { recursive: true });
  // O_NOFOLLOW: the checked path is written, not a link put in its place since the check.
  const handle = await open(target.path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o666);
  try {
    if (!(await handle.stat()).isFile()) return failure(`${path} is not a regular file`);
    const bytes = Buffer.from(content, 'utf8');
    await handle.writeFile(bytes);
    return { content: `wrote ${bytes.length} bytes to ${path}`, summary: `wrote ${bytes.length} bytes` };
  } finally {
    await handle.close();
  }
}

async function listFilesTool(path: string, context: WorkspaceToolContext): Promise<ToolOutcome> {
  const target = await resolveConfinedPath(context.root, path, 'existing');
  if (!target.ok) return refused(path, target.reason);
  if (!(await stat(target.path)).isDirectory()) return failure(`${path} is not a directory`);
  const entries: string[] = [];
  let truncated = false;
  const visit = async (directory: string): Promise<void> => {
    const children = (await readdir(directory, { withFileTypes: true })).sort((left, right) => (left.name < right.name ? -1 : left.name > right.name ? 1 : 0));
    for (const child of children) {
      if (entries.length >= maxListedEntries) {
        truncated = true;
        return;
      }
      const full = join(directory, child.name);
      const shown = relative(context.root, full);
      // Dirent types come from lstat: links are named, never followed.
      if (child.isSymbolicLink()) entries.push(`${shown} -> ${await readlink(full)}`);
      else if (child.isDirectory()) {
        entries.push(`${shown}/`);
        if (!unlistedDirectories.has(child.name)) await visit(full);
      } else entries.push(shown);
    }
  };
  await visit(target.path);
  const note = truncated ? `\n[listing stopped at ${maxListedEntries} entries; list a subdirectory]` : '';
  return { content: entries.length === 0 ? '(empty directory)' : entries.join('\n') + note, summary: `${entries.length} entries` };
}

async function execTool(argv: readonly string[], context: WorkspaceToolContext): Promise<ToolOutcome> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  context.signal.addEventListener('abort', stop, { once: true });
  if (context.signal.aborted) stop();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, context.execTimeoutMs);
  const stdout = new CappedOutput(context.maxOutputBytes);
  const stderr = new CappedOutput(context.maxOutputBytes);
  try {
    const result = await context.commands.run({
      workspace: context.workspace,
      spec: { kind: 'command', argv: [...argv] },
      env: context.env,
      signal: controller.signal,
      sinks: {
        stdout: (chunk) => {
          context.sinks.stdout(chunk);
          stdout.push(chunk);
        },
        stderr: (chunk) => {
          context.sinks.stderr(chunk);
          stderr.push(chunk);
        },
      },
      network: context.network,
    });
    const ended = timedOut
      ? `timed out after ${context.execTimeoutMs} ms and was killed`
      : result.exitCode !== null
        ? `exit code ${result.exitCode}`
        : `killed by ${result.signal ?? 'a signal'}`;
    // The model is told which limit ended its command (memory), not only the bare exit code.
    const status = result.limitReached ? `${ended}: ${result.limitReached.message}` : ended;
    return {
      content: `${status}\nstdout:\n${stdout.text()}\nstderr:\n${stderr.text()}`,
      summary: `${status}, ${stdout.total} bytes on stdout, ${stderr.total} on stderr`,
    };
  } catch (error) {
    if (!isCairnError(error)) throw error;
    const code = (error.cause as NodeJS.ErrnoException | undefined)?.code;
    const reason =
      code === 'ENOENT'
        ? `it was not found on PATH (${JSON.stringify(context.env['PATH'] ?? '')})`
        : code === 'EACCES'
          ? 'it is not executable'
          : error.message;
    return failure(`could not start ${JSON.stringify(argv[0])}: ${reason}`);
  } finally {
    clearTimeout(timer);
    context.signal.removeEventListener('abort', stop);
  }
}

/** Keeps the first `limit` bytes of a stream for the model and counts the rest. */
class CappedOutput {
  readonly #limit: number;
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  total = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  push(chunk: Uint8Array): void {
    this.total += chunk.length;
    const room = this.#limit - this.#kept;
    if (room <= 0) return;
    const kept = Buffer.from(chunk.subarray(0, room));
    this.#chunks.push(kept);
    this.#kept += kept.length;
  }

  text(): string {
    if (this.total === 0) return '(empty)';
    // Decoded once, whole: decoding chunk by chunk would split characters at chunk edges.
    const text = Buffer.concat(this.#chunks).toString('utf8');
    return this.total > this.#kept ? `${text}\n[… ${this.total - this.#kept} more bytes not shown]` : text;
  }
}

function refused(path: string, reason: string): ToolOutcome {
  return { content: `refused: ${JSON.stringify(path)}: ${reason}`, summary: `refused: ${reason}` };
}

function failure(message: string): ToolOutcome {
  return { content: `error: ${message}`, summary: `error: ${message}` };
}

function invalid(error: z.ZodError): ToolOutcome {
  return failure(`invalid arguments: ${error.issues.map((issue) => `${issue.path.join('.') || '(arguments)'}: ${issue.message}`).join('; ')}`);
}
