import type { z } from 'zod';
import { CairnError, type ValidationIssue } from './cairn-error.ts';

/**
 * Parses the settings a package's factory was given, or throws CAIRN_CONFIG_INVALID listing every
 * problem at once, each named by its option path under `scope` (`local.storage.root`,
 * `engine.concurrency`), so that a bad composition or server config points at the line to fix.
 */
export function parseSettings<Schema extends z.ZodType>(schema: Schema, settings: unknown, scope: string): z.output<Schema> {
  const parsed = schema.safeParse(settings);
  if (parsed.success) return parsed.data;
  const issues: ValidationIssue[] = parsed.error.issues.flatMap((issue) =>
    // An unknown option is reported under its own name, not the object holding it.
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({
          code: 'CAIRN_CONFIG_INVALID' as const,
          path: [scope, ...issue.path.map(String), key].join('.'),
          message: 'is not an option here; remove it or check its spelling',
        }))
      : [{ code: 'CAIRN_CONFIG_INVALID' as const, path: [scope, ...issue.path.map(String)].join('.'), message: issue.message }],
  );
  throw new CairnError(
    'CAIRN_CONFIG_INVALID',
    `[cairn] [${scope.split('.')[0]}] invalid settings: ${issues.map((issue) => `"${issue.path}" ${issue.message}`).join('; ')}.`,
    {
      path: issues[0]!.path,
      issues,
    },
  );
}
