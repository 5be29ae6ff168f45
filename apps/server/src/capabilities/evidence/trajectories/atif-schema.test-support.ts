import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';

const schema = JSON.parse(readFileSync(new URL('./atif-schema/atif-v1.4.schema.json', import.meta.url), 'utf8')) as object;
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
// ISO 8601 date-time as the RFC asks ("2025-10-16T14:30:00Z"); ajv-formats is not installed here.
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
const validate = ajv.compile(schema);

/**
 * What is wrong with `document` as an ATIF-v1.4 trajectory (empty when nothing): the schema's
 * errors (atif-schema/), then the two rules harbor's validator adds beyond the tables: step ids
 * run 1, 2, 3, ... and every observation's `source_call_id` names a tool call of its own step.
 */
export function atifProblems(document: unknown): string[] {
  if (!validate(document)) return (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message ?? ''}`.trim());
  const problems: string[] = [];
  const steps = (
    document as { steps: { step_id: number; tool_calls?: { tool_call_id: string }[]; observation?: { results: { source_call_id?: string | null }[] } }[] }
  ).steps;
  for (const [index, step] of steps.entries()) {
    if (step.step_id !== index + 1) problems.push(`/steps/${index}/step_id is ${step.step_id}, not ${index + 1}`);
    const ids = new Set((step.tool_calls ?? []).map((call) => call.tool_call_id));
    for (const [resultIndex, result] of (step.observation?.results ?? []).entries())
      if (typeof result.source_call_id === 'string' && !ids.has(result.source_call_id))
        problems.push(`/steps/${index}/observation/results/${resultIndex}/source_call_id ${result.source_call_id} names no tool call of its step`);
  }
  return problems;
}
