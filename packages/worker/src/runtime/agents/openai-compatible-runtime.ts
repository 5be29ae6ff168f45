import { realpath } from 'node:fs/promises';
import type { RuntimeAdapterV1, RuntimeInvocation, RuntimeResult } from '@cairn/core';
import { CairnError, parseSettings } from '@cairn/protocol';
import { z } from 'zod';
import { unixSocketFetch } from '../../gateway/unix-socket-fetch.ts';
import { CommandRuntime, processLaunchSettings } from '../command-runtime.ts';
import { requestChatCompletion, truncate, type ChatCompletionsEndpoint, type ChatMessage } from './chat-completions-client.ts';
import { runWorkspaceTool, workspaceToolDefinitions, type WorkspaceToolContext } from './workspace-tools.ts';

/** Settings of `createOpenAiCompatibleRuntime`, checked at construction. */
export const openAiCompatibleRuntimeSettingsSchema = z.strictObject({
  /** The API root the Chat Completions path is appended to (`https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`). */
  baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as https://api.openai.com/v1' }),
  /**
   * The name of the environment variable, in the runtime's environment, that holds the API key (an
   * item secret): sent as `Authorization: Bearer`, and kept out of the commands the model runs.
   * Without it no Authorization header is sent (a local server).
   */
  apiKeyEnv: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
    .optional(),
  /** The model, unless the spec names one (`runtime.model`). */
  model: z.string().min(1, 'must not be empty').optional(),
  /** Where the host sets `model`, named when neither it nor the spec names one (a server names its config option). */
  modelHint: z.string().min(1).default('worker.openAiCompatibleRuntime.model on the worker'),
  /** Model requests per run, unless the spec sets `runtime.maxTurns`. */
  maxTurns: z.int().min(1).max(10_000).default(20),
  /** How long one model request may take before it is retried. */
  requestTimeoutMs: z.int().min(1).max(3_600_000).default(300_000),
  /** Retries of a request that failed with 408, 429, 5xx, a connection error or a timeout. */
  maxRetries: z.int().min(0).max(10).default(2),
  /** Delay before the first retry; doubled for each further one. */
  retryDelayMs: z.int().min(0).max(60_000).default(1_000),
  /** How long one `exec` tool call may run before it is killed. */
  execTimeoutMs: z.int().min(1).max(86_400_000).default(300_000),
  /** The most of a file, or of each output stream of an `exec`, handed back to the model. */
  maxToolOutputBytes: z.int().min(256).max(16_777_216).default(65_536),
  // launch (the sandbox around each process) and killGraceMs, as the command runtime's.
  ...processLaunchSettings,
  /**
   * Whether the runtime writes its own lines to stdout: each tool call (arguments shortened) and how
   * it went. Off, stdout and stderr hold only what the model said and what its commands printed.
   */
  transcript: z.boolean().default(true),
});

export type OpenAiCompatibleRuntimeSettings = z.input<typeof openAiCompatibleRuntimeSettingsSchema>;

const prefix = '[openai-compatible]';
const encoder = new TextEncoder();

const systemPrompt = [
  'You are an agent doing a task in a workspace directory, unattended: nobody will answer questions.',
  'Use the tools to read, change and check the files; every path is relative to the workspace root, and nothing outside it can be reached.',
  'When the task is done, answer with a short summary and no tool call. If it cannot be done, call finish with a non-zero exitCode and say why.',
].join('\n');

/**
 * Runs an `agent` spec whose adapter is `openai-compatible`: a tool-calling loop against an
 * OpenAI-compatible Chat Completions endpoint. The model gets the prompt and five tools confined to
 * the workspace (`read_file`, `write_file`, `list_files`, `exec`, `finish`); the loop ends when it
 * answers without a tool call (exit 0), calls `finish` (its exit code), or is stopped: `maxTurns`
 * requests used, or the endpoint failing after retries (exit 1, the reason on stderr).
 *
 * `finish` exists so the model can say it failed: the item's outcome is the exit code, and an agent
 * that gave up should not pass for one that succeeded.
 *
 * stdout gets what the model says and, with `transcript`, a line per tool call; what its commands
 * print streams to stdout and stderr as a command runtime's would. The file tools run in this process and resolve every path inside the
 * workspace's real path; `exec` runs through the `launch` hook (the sandbox) with the invocation's
 * environment minus the API key. The key is sent only as the Authorization header and replaced by
 * `[redacted:NAME]` in everything the runtime writes.
 */
export class OpenAiCompatibleRuntime implements RuntimeAdapterV1 {
  readonly specificationVersion = 'v1';
  readonly kind = 'openai-compatible';
  readonly #settings: z.output<typeof openAiCompatibleRuntimeSettingsSchema>;
  readonly #commands: CommandRuntime;
  readonly #url: URL;

  constructor(settings: OpenAiCompatibleRuntimeSettings) {
    this.#settings = parseSettings(openAiCompatibleRuntimeSettingsSchema, settings, 'worker.openAiCompatibleRuntime');
    const { launch, killGraceMs } = this.#settings;
    this.#commands = new CommandRuntime({ killGraceMs, ...(launch ? { launch } : {}) });
    this.#url = new URL(`${this.#settings.baseUrl.replace(/\/+$/, '')}/chat/completions`);
  }

  async run(invocation: RuntimeInvocation): Promise<RuntimeResult> {
    const { spec, workspace, env, signal, sinks } = invocation;
    if (spec.kind !== 'agent' || spec.adapter !== this.kind) {
      const what = spec.kind === 'agent' ? `an agent spec for adapter ${JSON.stringify(spec.adapter)}` : `a ${spec.kind} spec`;
      throw new CairnError(
        'CAIRN_RUNTIME_FAILED',
        `The openai-compatible runtime runs only agent specs with adapter "openai-compatible", not ${what}; configure the right runtime for it on the worker.`,
        {
          path: spec.kind === 'agent' ? 'runtime.adapter' : 'runtime.kind',
        },
      );
    }
    const model = spec.model ?? this.#settings.model;
    if (model === undefined) {
      throw new CairnError(
        'CAIRN_RUNTIME_FAILED',
        `The openai-compatible runtime has no model to ask: set runtime.model in the item or ${this.#settings.modelHint}.`,
        { path: 'runtime.model' },
      );
    }
    if (signal.aborted) return { exitCode: null, aborted: true };
    let root: string;
    try {
      root = await realpath(workspace);
    } catch (error) {
      throw new CairnError(
        'CAIRN_RUNTIME_FAILED',
        `The openai-compatible runtime cannot use the workspace ${JSON.stringify(workspace)}: ${(error as Error).message}.`,
        { path: 'workspace', cause: error },
      );
    }

    const { apiKeyEnv } = this.#settings;
    const apiKey = apiKeyEnv === undefined || env[apiKeyEnv] === '' ? undefined : env[apiKeyEnv];
    // Anything the endpoint or the model echoes back is scrubbed of the key before it is written.
    const redact = (text: string) => (apiKey === undefined ? text : text.replaceAll(apiKey, `[redacted:${apiKeyEnv}]`));
    const say = (text: string) => sinks.stdout(encoder.encode(redact(text)));
    const note = (text: string) => {
      if (this.#settings.transcript) say(`${prefix} ${text}\n`);
    };
    const warn = (text: string) => sinks.stderr(encoder.encode(redact(`${prefix} ${text}\n`)));
    if (apiKeyEnv !== undefined && apiKey === undefined && env['CAIRN_GATEWAY_URL'] === undefined)
      warn(`${apiKeyEnv} is not set in the runtime's environment; sending no Authorization header (give the item that secret)`);

    // Through the model gateway when the attempt has one (ADR 0033): its forwarder adds the credential.
    const gateway = env['CAIRN_GATEWAY_URL'];
    const url = gateway === undefined ? this.#url : new URL(`${gateway}/openai/v1/chat/completions`);
    // The forwarder's Unix socket when the worker gives one (not in RuntimeInvocation V1 yet, as
    // the command runtime's `gateway`): its loopback door is opened only for unsandboxed runtimes.
    const socket = gateway === undefined ? undefined : (invocation as { gateway?: { readonly socket: string } }).gateway?.socket;
    const endpoint: ChatCompletionsEndpoint = {
      url,
      ...(socket === undefined ? {} : { fetch: unixSocketFetch(socket) }),
      apiKey: gateway === undefined ? apiKey : undefined,
      requestTimeoutMs: this.#settings.requestTimeoutMs,
      maxRetries: this.#settings.maxRetries,
      retryDelayMs: this.#settings.retryDelayMs,
      onRetry: warn,
    };
    const tools: WorkspaceToolContext = {
      workspace,
      root,
      // The model's commands have no use for the model's own key; leaving it out keeps it from them.
      env: Object.fromEntries(Object.entries(env).filter(([name]) => name !== apiKeyEnv)),
      network: invocation.network ?? false,
      signal,
      sinks,
      commands: this.#commands,
      execTimeoutMs: this.#settings.execTimeoutMs,
      maxOutputBytes: this.#settings.maxToolOutputBytes,
    };
    const maxTurns = spec.maxTurns ?? this.#settings.maxTurns;
    const messages: ChatMessage[] = [
      { role: 'system', content: systemPrompt },
      { role: 'user', content: spec.prompt },
    ];
    note(`model ${model} at ${gateway === undefined ? this.#url.origin : 'the model gateway'}, up to ${maxTurns} turns`);

    for (let turn = 1; turn <= maxTurns; turn++) {
      const outcome = await requestChatCompletion(endpoint, { model, messages, tools: workspaceToolDefinitions }, signal, turn);
      if (outcome.kind === 'aborted') return { exitCode: null, aborted: true };
      if (outcome.kind === 'failed') {
        warn(`turn ${turn}: ${outcome.reason}; stopping (exit code 1)`);
        return { exitCode: 1, aborted: false };
      }
      if (outcome.content !== null && outcome.content !== '') say(outcome.content.endsWith('\n') ? outcome.content : `${outcome.content}\n`);
      messages.push({ role: 'assistant', content: outcome.content, ...(outcome.toolCalls.length > 0 ? { tool_calls: outcome.toolCalls } : {}) });
      if (outcome.toolCalls.length === 0) {
        note(`finished after ${turn} ${turn === 1 ? 'turn' : 'turns'}`);
        return { exitCode: 0, aborted: false };
      }
      for (const call of outcome.toolCalls) {
        note(`turn ${turn}: ${call.function.name} ${truncate(call.function.arguments.replace(/\s+/g, ' '), 200)}`);
        const result = await runWorkspaceTool(call.function.name, call.function.arguments, tools);
        if (signal.aborted) return { exitCode: null, aborted: true };
        note(`  -> ${truncate(result.summary, 200)}`);
        if (result.finish) return { exitCode: result.finish.exitCode, aborted: false };
        messages.push({ role: 'tool', tool_call_id: call.id, content: result.content });
      }
    }
    warn(`stopped: the model still asked for tools after ${maxTurns} turns (maxTurns); exit code 1`);
    return { exitCode: 1, aborted: false };
  }
}

/** Creates a runtime adapter for `openai-compatible` agent specs (see `OpenAiCompatibleRuntime`). */
export function createOpenAiCompatibleRuntime(settings: OpenAiCompatibleRuntimeSettings): OpenAiCompatibleRuntime {
  return new OpenAiCompatibleRuntime(settings);
}
