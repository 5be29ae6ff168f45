import type { TaskTraceContext } from '@cairn/core';

/**
 * The runtime's whole environment: nothing of the worker's own (its credentials, its PATH)
 * leaks in. A small allowlist first (PATH, HOME as the workspace, LANG), then the task's trace
 * context (`TRACEPARENT`, `TRACESTATE`), then the manifest's plain `env`, then the secrets the
 * manifest names, which win. An item's own `TRACEPARENT` wins over the task's: it asked to join
 * another trace.
 */
export function runtimeEnvironment(
  workspace: string,
  path: string,
  env: Readonly<Record<string, string>>,
  secrets: Readonly<Record<string, string>>,
  traceContext?: TaskTraceContext,
): Record<string, string> {
  return { PATH: path, HOME: workspace, LANG: 'C.UTF-8', ...traceEnvironment(traceContext), ...env, ...secrets };
}

/**
 * The variables OpenTelemetry's environment-carrier convention names for a W3C trace context:
 * an SDK in the runtime (an agent CLI's) that reads them makes its spans children of the attempt.
 */
function traceEnvironment(traceContext: TaskTraceContext | undefined): Record<string, string> {
  if (traceContext === undefined) return {};
  return { TRACEPARENT: traceContext.traceparent, ...(traceContext.tracestate === undefined ? {} : { TRACESTATE: traceContext.tracestate }) };
}

/**
 * The secrets the manifest names, taken from the task. Those the task carries beyond the names are
 * left out (least privilege); the names it lacks are returned so the attempt can fail saying so.
 */
export function namedSecrets(
  names: readonly string[],
  given: Readonly<Record<string, string>> | undefined,
): { secrets: Record<string, string>; missing: string[] } {
  const secrets: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of names) {
    const value = given?.[name];
    if (value === undefined) missing.push(name);
    else secrets[name] = value;
  }
  return { secrets, missing };
}

/** `text` with every secret value replaced by `[redacted:NAME]`, for failure messages. */
export function redactText(text: string, secrets: Readonly<Record<string, string>>): string {
  let redacted = text;
  for (const [name, value] of Object.entries(secrets).sort(([, left], [, right]) => right.length - left.length)) {
    if (value !== '') redacted = redacted.replaceAll(value, `[redacted:${name}]`);
  }
  return redacted;
}
