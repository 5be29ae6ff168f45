/**
 * The version of the OpenTelemetry GenAI semantic conventions the server's agent spans follow
 * (`invoke_workflow`, `invoke_agent`, the model-call spans' `gen_ai.*` attributes). The
 * conventions are in development status and change between releases, so the version is pinned
 * here and in docs/operations/observability.md, and moved on purpose, never by a dependency bump.
 */
export const GEN_AI_SEMCONV_VERSION = '1.41.0';

/** The schema URL of that version, given to the tracer so a backend knows which names to expect. */
export const GEN_AI_SCHEMA_URL = `https://opentelemetry.io/schemas/${GEN_AI_SEMCONV_VERSION}`;

/**
 * Which spans the tracer emits:
 * - `cairn`: what the server emitted before it followed the agent conventions (`run`, `item`,
 *   `attempt` spans, Cairn's own names for cache tokens), unchanged;
 * - `gen-ai-latest`: the pinned GenAI conventions (`invoke_workflow` per run, `invoke_agent` per
 *   agent attempt with its usage roll-up, model calls as CLIENT spans with the conventions'
 *   cache-token names).
 */
export type GenAiConventions = 'cairn' | 'gen-ai-latest';

/**
 * The conventions an `OTEL_SEMCONV_STABILITY_OPT_IN` value asks for (`telemetry.traces.stabilityOptIn`,
 * which the variable sets). The GenAI conventions tell an
 * instrumentation that already emitted spans not to change them by default, and to emit the latest
 * experimental conventions it supports, and only those, when the comma-separated list holds
 * `gen_ai_latest_experimental`. Other entries (`http`, `database/dup`, ...) are other
 * instrumentations' and are ignored here.
 */
export function genAiConventionsOf(stabilityOptIn: string | undefined): GenAiConventions {
  const entries = (stabilityOptIn ?? '').split(',').map((entry) => entry.trim());
  return entries.includes('gen_ai_latest_experimental') ? 'gen-ai-latest' : 'cairn';
}
