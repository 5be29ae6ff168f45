import type { z } from 'zod';
import type { ValidationIssue } from '../errors/cairn-error.ts';
import { formatJsonPath } from '../json/json-path.ts';
import { suggestName } from './suggest-name.ts';

/**
 * Turns zod's issues into Cairn's: one issue per problem, located by JSON path, saying what is
 * wrong and what to write instead. `knownFields` feeds the did-you-mean of unknown fields.
 */
export function describeZodIssues(issues: readonly z.core.$ZodIssue[], knownFields: ReadonlySet<string>): ValidationIssue[] {
  return issues.flatMap((issue) => describeZodIssue(issue, knownFields));
}

function describeZodIssue(issue: z.core.$ZodIssue, knownFields: ReadonlySet<string>): ValidationIssue[] {
  const path = formatJsonPath(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => {
        const suggestion = suggestName(key, knownFields);
        return {
          code: 'CAIRN_RUN_SPEC_INVALID' as const,
          path: formatJsonPath([...issue.path, key]),
          message:
            suggestion === undefined
              ? 'is not a field here; remove it or correct its name.'
              : `is not a field here; did you mean ${JSON.stringify(suggestion)}? Otherwise remove it.`,
        };
      });
    case 'invalid_key': {
      // zod's own message ("Invalid key in record") says neither what is wrong nor what to write:
      // the key schema's first complaint does. The path already ends at the key.
      const first = issue.issues[0];
      return [
        {
          code: first?.code === 'too_big' ? 'CAIRN_RUN_SPEC_TOO_LARGE' : 'CAIRN_RUN_SPEC_INVALID',
          path,
          message: `the key ${quoted(String(issue.input))} ${first?.message ?? 'is not allowed here'}; rename it.`,
        },
      ];
    }
    case 'invalid_type':
      if (issue.input === undefined) return [{ code: 'CAIRN_RUN_SPEC_INVALID', path, message: `is required (${article(issue.expected)}).` }];
      return [{ code: 'CAIRN_RUN_SPEC_INVALID', path, message: `must be ${article(issue.expected)}, not ${describeValue(issue.input)}.` }];
    case 'too_big':
      return [{ code: 'CAIRN_RUN_SPEC_TOO_LARGE', path, message: `${issue.message}.` }];
    case 'custom':
      return [{ code: issue.params?.['limit'] === undefined ? 'CAIRN_RUN_SPEC_INVALID' : 'CAIRN_RUN_SPEC_TOO_LARGE', path, message: `${issue.message}.` }];
    default:
      return [{ code: 'CAIRN_RUN_SPEC_INVALID', path, message: `${issue.message}.` }];
  }
}

function article(expected: string): string {
  const names: Record<string, string> = {
    object: 'an object',
    array: 'a list',
    string: 'a string',
    number: 'a number',
    int: 'a whole number',
    boolean: 'true or false',
  };
  return names[expected] ?? expected;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return `the string ${quoted(value)}`;
    case 'number':
      return `the number ${value}`;
    case 'boolean':
      return `${value}`;
    case 'object':
      return 'an object';
    default:
      return `a ${typeof value}`;
  }
}

/** A string as JSON (so a control character shows escaped), cut after 40 characters. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}
