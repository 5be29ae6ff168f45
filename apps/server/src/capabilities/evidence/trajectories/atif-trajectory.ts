import type { ModelCallData } from '@cairn/core';
import { canonicalJson } from '@cairn/protocol';
import { isRecord } from '../../gateway/model-usage-readers.ts';
import { answerMessage, continuesStoredResponse, requestMessages, type CallOfTool, type ConversationMessage } from './model-call-messages.ts';

/** The ATIF version these documents follow (harbor RFC 0001, v1.4). */
export const atifSchemaVersion = 'ATIF-v1.4';

/** ATIF's ToolCallSchema. */
export interface AtifToolCall {
  readonly tool_call_id: string;
  readonly function_name: string;
  readonly arguments: Record<string, unknown>;
}

/** ATIF's ObservationSchema. */
export interface AtifObservation {
  readonly results: readonly { readonly source_call_id?: string; readonly content?: string }[];
}

/** ATIF's MetricsSchema, as far as the gateway measures it. */
export interface AtifMetrics {
  readonly prompt_tokens?: number;
  readonly completion_tokens?: number;
  readonly cached_tokens?: number;
  readonly cost_usd?: number;
  readonly extra?: Record<string, unknown>;
}

/** ATIF's StepObject. */
export interface AtifStep {
  readonly step_id: number;
  readonly timestamp?: string;
  readonly source: 'system' | 'user' | 'agent';
  readonly model_name?: string;
  readonly message: string;
  readonly reasoning_content?: string;
  readonly tool_calls?: readonly AtifToolCall[];
  observation?: AtifObservation;
  readonly metrics?: AtifMetrics;
  readonly extra?: Record<string, unknown>;
}

/** An ATIF trajectory (the root object). */
export interface AtifTrajectory {
  readonly schema_version: string;
  readonly session_id: string;
  readonly agent: { readonly name: string; readonly version: string; readonly model_name?: string; readonly extra?: Record<string, unknown> };
  readonly steps: readonly AtifStep[];
  readonly notes?: string;
  readonly final_metrics?: {
    readonly total_prompt_tokens: number;
    readonly total_completion_tokens: number;
    readonly total_cached_tokens: number;
    readonly total_cost_usd?: number;
    readonly total_steps: number;
    readonly extra?: Record<string, unknown>;
  };
  readonly extra?: Record<string, unknown>;
}

/**
 * One `model.called` entry of an attempt with the bodies its digests name, as storage holds them:
 * `null` for a body that is not there, or that the gateway kept only as a stand-in.
 */
export interface RecordedModelCall {
  readonly seq: number;
  /** The entry's time: when the call's answer ended. */
  readonly time: string;
  readonly data: ModelCallData;
  readonly request: Uint8Array | null;
  readonly response: Uint8Array | null;
}

/** What one attempt's trajectory is built from. */
export interface AttemptModelCalls {
  /** The attempt's execution id (`<run>/<item>/<attempt>`): the ATIF session id. */
  readonly sessionId: string;
  /** The agent adapter (`claude-code`, `codex`, `openai-compatible`); its version is not recorded. */
  readonly agentName: string;
  /** The model the item asked for, when its spec names one. */
  readonly model?: string;
  /** The attempt's calls in audit order. */
  readonly calls: readonly RecordedModelCall[];
}

interface ReadCall {
  readonly call: RecordedModelCall;
  readonly messages: readonly ConversationMessage[];
  readonly continues: boolean;
  readonly answer: ConversationMessage | undefined;
}

/**
 * Builds the ATIF trajectory of one agent attempt from its recorded model calls, a pure function
 * of them: the same calls give the same document (and digest), so anyone holding the bodies the
 * evidence bundle names can rebuild it.
 *
 * An agent sends its whole conversation with every call, so the trajectory is the longest line of
 * calls each of which extends the one before (side calls for titles or quota checks start their
 * own conversation and are counted apart). Each call adds what its request brought that the one
 * before did not (tool results become the observation of the step that asked for them, new user
 * or system messages their own steps) and its answer as an agent step with that call's metered
 * usage. Nothing is invented: a body the gateway did not keep is named in `notes`.
 */
export function buildAtifTrajectory(input: AttemptModelCalls): AtifTrajectory {
  const notes: string[] = [];
  const read: ReadCall[] = [];
  // In the order they were sent: an entry is recorded when its answer ends, and an agent may send
  // its next call before the previous stream has closed (Codex does, once a tool call is complete).
  const sent = (call: RecordedModelCall) => Date.parse(call.time) - call.data.latencyMs;
  const calls = [...input.calls].sort((a, b) => sent(a) - sent(b) || a.seq - b.seq);
  for (const call of calls) {
    const request = call.request === null ? undefined : parseJson(call.request);
    const messages = request === undefined || isStandIn(request) ? undefined : requestMessages(call.data.api, request);
    if (messages === undefined) {
      notes.push(`model call ${call.seq}: its request body (${call.data.request}) was not kept, so its messages are not in the steps`);
      continue;
    }
    const answer = call.response === null ? undefined : answerMessage(call.data.api, call.response, call.data.stream);
    if (call.data.response === undefined) notes.push(`model call ${call.seq} was refused by the gateway (${call.data.status}): it has no answer`);
    else if (call.response === null) notes.push(`model call ${call.seq}: its answer body (${call.data.response}) was not kept`);
    else if (answer === undefined) notes.push(`model call ${call.seq}: the provider answered ${call.data.status} without a model turn`);
    read.push({ call, messages, continues: continuesStoredResponse(call.data.api, request), answer });
  }

  const line = longestConversation(read);
  const inLine = new Set(line);
  const sideCalls = read.filter((call) => !inLine.has(call));
  const steps: AtifStep[] = [];
  let previous: ReadCall | undefined;
  for (const call of line) {
    const fresh = call.continues || previous === undefined ? call.messages : call.messages.slice(previous.messages.length);
    // The request repeats the previous answer before what is new: the model's own turn is its step already.
    let start = 0;
    while (previous !== undefined && !call.continues && fresh[start]?.role === 'assistant') start++;
    const sentAt = new Date(Date.parse(call.call.time) - call.call.data.latencyMs).toISOString();
    for (const message of fresh.slice(start)) addSent(steps, message, sentAt);
    if (call.answer?.role === 'assistant') steps.push(agentStep(steps.length + 1, call, call.answer));
    previous = call;
  }

  // The steps of recorded answers: a model turn an agent wrote into its history itself has no call to measure.
  const agentSteps = steps.filter((step) => step.source === 'agent' && step.extra?.['model_call_seq'] !== undefined);
  const sum = (pick: (metrics: AtifMetrics) => number | undefined) => agentSteps.reduce((total, step) => total + (pick(step.metrics ?? {}) ?? 0), 0);
  const costs = agentSteps.map((step) => step.metrics?.cost_usd);
  if (costs.some((cost) => cost === undefined) && agentSteps.length > 0) notes.push('some calls have no price: total_cost_usd is left out');
  if (sideCalls.length > 0)
    notes.push(
      `${sideCalls.length} side call(s) outside the agent's conversation (titles, quota checks) are not steps; final_metrics.extra.side_calls counts them`,
    );
  notes.push("the agent's version is not recorded by the gateway");
  const sideUsage = sideCalls.map((call) => metricsOf(call.call.data));
  return {
    schema_version: atifSchemaVersion,
    session_id: input.sessionId,
    agent: { name: input.agentName, version: 'unrecorded', ...(modelOf(input) === undefined ? {} : { model_name: modelOf(input)! }) },
    steps,
    notes: notes.join('; '),
    final_metrics: {
      total_prompt_tokens: sum((metrics) => metrics.prompt_tokens),
      total_completion_tokens: sum((metrics) => metrics.completion_tokens),
      total_cached_tokens: sum((metrics) => metrics.cached_tokens),
      ...(costs.every((cost) => cost !== undefined) ? { total_cost_usd: roundUsd(costs.reduce((total, cost) => total + cost, 0)) } : {}),
      total_steps: steps.length,
      extra: {
        side_calls: {
          count: sideCalls.length,
          prompt_tokens: sideUsage.reduce((total, metrics) => total + (metrics.prompt_tokens ?? 0), 0),
          completion_tokens: sideUsage.reduce((total, metrics) => total + (metrics.completion_tokens ?? 0), 0),
          cost_usd: roundUsd(sideUsage.reduce((total, metrics) => total + (metrics.cost_usd ?? 0), 0)),
        },
      },
    },
    extra: {
      // What the document was built from: the bundle's model.called entries name these bodies.
      model_calls: calls.map((call) => ({
        seq: call.seq,
        request: call.data.request,
        ...(call.data.response === undefined ? {} : { response: call.data.response }),
        role: !read.some((readCall) => readCall.call === call) ? 'unread' : line.some((readCall) => readCall.call === call) ? 'step' : 'side-call',
      })),
    },
  };
}

function modelOf(input: AttemptModelCalls): string | undefined {
  return input.model ?? input.calls.at(-1)?.data.model;
}

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown;
  } catch {
    return undefined;
  }
}

/** The gateway's stand-in for a refused call's large body: its size and digest, never its messages. */
function isStandIn(body: unknown): boolean {
  return isRecord(body) && typeof body['notStored'] === 'string';
}

/** The longest chain of calls where each one's conversation starts as the previous one's did and is longer. */
function longestConversation(calls: readonly ReadCall[]): ReadCall[] {
  const chains: ReadCall[][] = [];
  for (const call of calls) {
    const chain = chains.findLast((candidate) => continuesConversation(call, candidate.at(-1)!));
    if (chain === undefined) chains.push([call]);
    else chain.push(call);
  }
  // Ties go to the conversation that sent more (an agent's loop carries its system prompt and
  // tools; a quota check or a title request one short message), then to the later one.
  const weight = (chain: readonly ReadCall[]) => [chain.length, chain.at(-1)?.messages.length ?? 0];
  return chains.reduce<ReadCall[]>((best, chain) => {
    const [length, sent] = weight(chain);
    const [bestLength, bestSent] = weight(best);
    return length! > bestLength! || (length === bestLength && sent! >= bestSent!) ? chain : best;
  }, []);
}

function continuesConversation(call: ReadCall, last: ReadCall): boolean {
  if (call.continues) return true;
  const key = (message: ConversationMessage | undefined) => (message === undefined ? '' : canonicalJson(message));
  const firstUser = (messages: readonly ConversationMessage[]) => messages.find((message) => message.role === 'user');
  return call.messages.length > last.messages.length && key(firstUser(call.messages)) === key(firstUser(last.messages));
}

function addSent(steps: AtifStep[], message: ConversationMessage, timestamp: string): void {
  if (message.role === 'assistant') {
    // A model turn the agent wrote into its history itself (not an answer recorded here).
    steps.push({
      step_id: steps.length + 1,
      timestamp,
      source: 'agent',
      message: message.text,
      ...toolCallsOf(message.toolCalls),
      extra: { unrecorded_answer: true },
    });
    return;
  }
  if (message.role !== 'tool') {
    steps.push({ step_id: steps.length + 1, timestamp, source: message.role, message: message.text });
    return;
  }
  const result = { source_call_id: message.callId, content: message.text };
  const asker = steps.findLast((step) => step.tool_calls?.some((call) => call.tool_call_id === message.callId));
  if (asker !== undefined) {
    asker.observation = { results: [...(asker.observation?.results ?? []), result] };
    return;
  }
  // A result for a call no step made: kept as a system step's observation, without a reference it cannot resolve.
  steps.push({
    step_id: steps.length + 1,
    timestamp,
    source: 'system',
    message: '',
    observation: { results: [{ content: message.text }] },
    extra: { tool_call_id: message.callId },
  });
}

function toolCallsOf(calls: readonly CallOfTool[]): { tool_calls?: AtifToolCall[] } {
  return calls.length === 0 ? {} : { tool_calls: calls.map((call) => ({ tool_call_id: call.id, function_name: call.name, arguments: call.arguments })) };
}

function agentStep(stepId: number, call: ReadCall, answer: Extract<ConversationMessage, { role: 'assistant' }>): AtifStep {
  const metrics = metricsOf(call.call.data);
  return {
    step_id: stepId,
    timestamp: call.call.time,
    source: 'agent',
    model_name: call.call.data.model,
    message: answer.text,
    ...(answer.reasoning === undefined ? {} : { reasoning_content: answer.reasoning }),
    ...toolCallsOf(answer.toolCalls),
    ...(Object.keys(metrics).length === 0 ? {} : { metrics }),
    extra: { model_call_seq: call.call.seq, ...(call.call.data.status >= 300 ? { status: call.call.data.status } : {}) },
  };
}

/** ATIF counts the whole prompt (cached tokens included); the gateway keeps the four buckets apart. */
function metricsOf(data: ModelCallData): AtifMetrics {
  if (data.inputTokens === undefined || data.outputTokens === undefined) return data.costUsd === undefined ? {} : { cost_usd: data.costUsd };
  const cacheRead = data.cacheReadTokens ?? 0;
  const cacheWrite = data.cacheWriteTokens ?? 0;
  return {
    prompt_tokens: data.inputTokens + cacheRead + cacheWrite,
    completion_tokens: data.outputTokens,
    cached_tokens: cacheRead,
    ...(data.costUsd === undefined ? {} : { cost_usd: data.costUsd }),
    extra: { cache_creation_input_tokens: cacheWrite, latency_ms: data.latencyMs, ...(data.reason === undefined ? {} : { reason: data.reason }) },
  };
}

/** Dollars summed without float noise (to a billionth of a cent). */
function roundUsd(value: number): number {
  return Math.round(value * 1e11) / 1e11;
}
