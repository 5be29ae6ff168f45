import type { RuntimeSpec } from '../model/run-spec.ts';

/** Where a runtime writes its output as it runs (the worker caps and stores it). */
export interface RuntimeSinks {
  stdout(chunk: Uint8Array): void;
  stderr(chunk: Uint8Array): void;
}

export interface RuntimeInvocation {
  /** Absolute path of the materialised workspace; the runtime's working directory. */
  readonly workspace: string;
  /** The item's runtime; the worker never hands an adapter a `merge` (it merges by itself). */
  readonly spec: RuntimeSpec;
  /** The complete environment (cleared, then the allowlist, `env` and secrets). */
  readonly env: Readonly<Record<string, string>>;
  /** Whether the attempt may use the network (the manifest's `limits.network`); none when absent. */
  readonly network?: boolean;
  /** Aborted on timeout or cancel; the runtime must stop promptly and resolve. */
  readonly signal: AbortSignal;
  readonly sinks: RuntimeSinks;
}

export interface RuntimeResult {
  /** Null when the process was killed by a signal. */
  readonly exitCode: number | null;
  readonly signal?: string;
  /** True when it stopped because `signal` was aborted. */
  readonly aborted: boolean;
}

/**
 * Runs a command or an AI agent inside the sandbox, in the workspace. The worker calls it; the
 * sandbox (bubblewrap, the container) is already around it.
 *
 * Guarantees:
 * - `run` resolves once the work has ended (exit, kill or abort), with every output chunk
 *   already delivered to the sinks; a non-zero exit is a result, not an error.
 * - After `signal` aborts, `run` resolves within a few seconds with `aborted: true` and leaves no
 *   process behind.
 * - It rejects with CAIRN_RUNTIME_FAILED only when it could not start at all (program not found).
 *
 * How to implement: accept only specs of your `kind` (and for agents your `adapter` name), write
 * everything the agent changes into the workspace, and run `describeRuntimeAdapter` from
 * `@cairn/conformance`.
 */
export interface RuntimeAdapterV1 {
  readonly specificationVersion: 'v1';
  /** `command`, or the agent adapter name (`claude-code`, `openai-compatible`). */
  readonly kind: string;
  run(invocation: RuntimeInvocation): Promise<RuntimeResult>;
}
