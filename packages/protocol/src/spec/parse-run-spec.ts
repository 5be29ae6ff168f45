import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { CairnError } from '../errors/cairn-error.ts';
import { findDuplicateKey } from '../json/find-duplicate-key.ts';
import { runSpecLimits } from './run-spec-limits.ts';

export interface ParseRunSpecOptions {
  /** `auto` (default) reads JSON when the text starts with `{`, YAML otherwise. */
  readonly format?: 'auto' | 'yaml' | 'json';
  /** Where the text came from (a file name), for messages. */
  readonly source?: string;
}

const utf8 = new TextEncoder();

// The YAML parser (72 modules, about 20 ms of a start) loads when a text is YAML, not with this
// module: whoever imports the root entry for anything else (`cairn verify`, a JSON spec's check)
// does not pay for it. Under
// Node, yaml's entry is CommonJS (its `node` export), so `require` returns the very module an
// `import` would: one copy, whichever way it was loaded first.
let yaml: typeof Yaml | undefined;
const loadYaml = (): typeof Yaml => (yaml ??= createRequire(import.meta.url)('yaml') as typeof Yaml);

/**
 * Turns the text of a run spec into a plain value, without judging its shape (`validateRunSpec`
 * does that). YAML 1.2 (core schema) or JSON; duplicate keys are refused, YAML aliases are
 * limited (no billion laughs), and the document size is bounded.
 *
 * Throws CAIRN_RUN_SPEC_TOO_LARGE for a document over `runSpecLimits.documentBytes`, and
 * CAIRN_RUN_SPEC_UNPARSABLE with `source:line:column` for a syntax error.
 */
export function parseRunSpec(text: string, options: ParseRunSpecOptions = {}): unknown {
  const source = options.source ?? 'run spec';
  const bytes = utf8.encode(text).byteLength;
  if (bytes > runSpecLimits.documentBytes) {
    const message = `${source} is ${bytes} bytes; a run spec may be at most ${runSpecLimits.documentBytes} bytes. Split the run into smaller runs.`;
    throw documentError('CAIRN_RUN_SPEC_TOO_LARGE', message, undefined, { bytes, limit: runSpecLimits.documentBytes });
  }
  // Before any parser recurses into it: a 5,000-deep document would overflow the stack.
  const depth = bracketDepth(text);
  if (depth > runSpecLimits.depth) {
    throw documentError(
      'CAIRN_RUN_SPEC_TOO_LARGE',
      `${source} nests ${depth} levels deep; a run spec may nest at most ${runSpecLimits.depth} levels.`,
      undefined,
      { depth, limit: runSpecLimits.depth },
    );
  }
  const format = options.format === undefined || options.format === 'auto' ? (/^\s*\{/.test(text) ? 'json' : 'yaml') : options.format;
  try {
    return format === 'json' ? parseJsonText(text, source) : parseYamlText(text, source);
  } catch (error) {
    // Deep block nesting (indentation, not brackets) can still exhaust the stack: it is a size problem.
    if (error instanceof RangeError)
      throw documentError('CAIRN_RUN_SPEC_TOO_LARGE', `${source} nests too deeply to read; a run spec may nest at most ${runSpecLimits.depth} levels.`, error);
    throw error;
  }
}

/** The deepest nesting of `[` and `{` outside quoted strings: JSON's, and YAML's flow collections'. */
function bracketDepth(text: string): number {
  const [doubleQuote, singleQuote, backslash, openSquare, openCurly, closeSquare, closeCurly] = [0x22, 0x27, 0x5c, 0x5b, 0x7b, 0x5d, 0x7d];
  let depth = 0;
  let deepest = 0;
  let quote = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (quote !== 0) {
      if (code === backslash && quote === doubleQuote) index++;
      else if (code === quote) quote = 0;
    } else if (code === doubleQuote || (code === singleQuote && !isWordCharacter(text.charCodeAt(index - 1)))) quote = code;
    else if (code === openSquare || code === openCurly) deepest = Math.max(deepest, ++depth);
    else if (code === closeSquare || code === closeCurly) depth = Math.max(0, depth - 1);
  }
  return deepest;
}

/** A letter, digit or underscore: before one, `'` is an apostrophe (`it's`), not a YAML quote. */
function isWordCharacter(code: number): boolean {
  return (code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || code === 0x5f;
}

function parseJsonText(text: string, source: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const position = /position (\d+)/.exec((error as Error).message);
    const where = position ? lineAndColumn(text, Number(position[1])) : '';
    throw documentError('CAIRN_RUN_SPEC_UNPARSABLE', `${source}${where} is not valid JSON: ${(error as Error).message}.`, error);
  }
  // JSON.parse silently keeps the last of duplicate keys; a spec whose meaning depends on which
  // duplicate wins must be refused.
  const duplicate = findDuplicateKey(text);
  if (duplicate !== undefined)
    throw documentError('CAIRN_RUN_SPEC_UNPARSABLE', `${source} is not valid: the key ${duplicate} appears twice in one object; keep one.`);
  return value;
}

function parseYamlText(text: string, source: string): unknown {
  const document = loadYaml().parseDocument(text, { uniqueKeys: true, prettyErrors: true, schema: 'core', merge: false, version: '1.2' });
  const [problem] = document.errors;
  if (problem) {
    const at = problem.linePos?.[0];
    const where = at ? `:${at.line}:${at.col}` : '';
    const message = problem.message.split('\n')[0]!.replace(/ at line \d+, column \d+.*$/, '');
    throw documentError('CAIRN_RUN_SPEC_UNPARSABLE', `${source}${where} is not valid YAML: ${message}.`, problem);
  }
  try {
    return document.toJS({ maxAliasCount: runSpecLimits.yamlAliases });
  } catch (error) {
    const message = (error as Error).message;
    if (/alias count/i.test(message)) {
      throw documentError(
        'CAIRN_RUN_SPEC_TOO_LARGE',
        `${source} expands too many YAML aliases (at most ${runSpecLimits.yamlAliases}); write the values out instead.`,
        error,
      );
    }
    throw documentError('CAIRN_RUN_SPEC_UNPARSABLE', `${source} is not valid YAML: ${message}.`, error);
  }
}

/** Errors about the document as a whole are located at `$`, and carry themselves as the one issue. */
function documentError(
  code: 'CAIRN_RUN_SPEC_TOO_LARGE' | 'CAIRN_RUN_SPEC_UNPARSABLE',
  message: string,
  cause?: unknown,
  details?: Record<string, number>,
): CairnError {
  return new CairnError(code, message, { path: '$', issues: [{ code, path: '$', message }], cause, ...(details ? { details } : {}) });
}

function lineAndColumn(text: string, offset: number): string {
  const before = text.slice(0, offset).split('\n');
  return `:${before.length}:${before.at(-1)!.length + 1}`;
}
