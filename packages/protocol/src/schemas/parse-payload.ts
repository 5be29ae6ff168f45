import type { z } from 'zod';
import { CairnError } from '../errors/cairn-error.ts';
import { formatJsonPath } from '../json/json-path.ts';

/**
 * Checks a message received across a process boundary against its schema and returns it typed;
 * throws CAIRN_PAYLOAD_INVALID listing every problem by JSON path. `what` names the message
 * (`result record results/r1.json`).
 */
export function parsePayload<Schema extends z.ZodType>(schema: Schema, value: unknown, what: string): z.output<Schema> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({ code: 'CAIRN_PAYLOAD_INVALID' as const, path: formatJsonPath(issue.path), message: issue.message }));
  const [first] = issues;
  throw new CairnError(
    'CAIRN_PAYLOAD_INVALID',
    `${what} is not valid: ${first!.path} ${first!.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}.`,
    {
      path: first!.path,
      issues,
    },
  );
}
