import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { CairnError, isCairnError, parseRunSpec, validateRunSpec, type ValidationIssue } from '@cairn/protocol';
import type { RunTemplateConfig } from './trigger-config-schema.ts';

/** `{{ name }}` in a string value of a template's spec (spaces inside the braces optional). */
const placeholder = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}/g;

/** A template as `GET /v1/templates` lists it. */
export interface RunTemplateView {
  readonly name: string;
  readonly description?: string;
  readonly parameters: { name: string; required: boolean; default?: string; description?: string }[];
}

/** A template's spec filled with its parameters, checked as any run spec is (the engine checks it again on submit). */
export interface FilledTemplate {
  readonly template: string;
  readonly document: unknown;
  /** The secrets a trigger's run from this template may use (`triggerSecrets`). */
  readonly triggerSecrets: readonly string[];
  /** Which parameters went into the value at each JSON path, to name them in a refusal. */
  readonly filledPaths: ReadonlyMap<string, readonly string[]>;
}

interface LoadedTemplate {
  readonly name: string;
  readonly config: RunTemplateConfig;
  /** The parsed spec, placeholders still in its strings. */
  readonly document: unknown;
}

/**
 * The server's run templates (`templates:` in the config): each spec file is read and parsed once,
 * at start, and every placeholder in it must be a declared parameter, so a typo is a config error,
 * not a run with `{{ isue.title }}` in it. Filling substitutes into the parsed document's string
 * values only: a value is always a string wherever it lands, so it cannot add keys or items, or
 * turn a string into anything else, whatever characters it holds.
 */
export class RunTemplates {
  readonly #templates: ReadonlyMap<string, LoadedTemplate>;

  private constructor(templates: ReadonlyMap<string, LoadedTemplate>) {
    this.#templates = templates;
  }

  /** Reads every template's spec file (relative to `configDirectory`); CAIRN_CONFIG_INVALID naming the template for a file that cannot be. */
  static load(templates: Readonly<Record<string, RunTemplateConfig>>, configDirectory: string): RunTemplates {
    const loaded = new Map<string, LoadedTemplate>();
    for (const [name, config] of Object.entries(templates)) {
      const file = isAbsolute(config.spec) ? config.spec : join(configDirectory, config.spec);
      const where = `config.templates.${name}.spec`;
      let document: unknown;
      try {
        document = parseRunSpec(readFileSync(file, 'utf8'), { source: file });
      } catch (error) {
        throw new CairnError('CAIRN_CONFIG_INVALID', `${where}: cannot read the template's run spec ${file}: ${(error as Error).message}`, {
          path: where,
          cause: error,
        });
      }
      const undeclared = [...new Set(placeholdersIn(document))].filter((parameter) => !(parameter in config.parameters));
      if (undeclared.length > 0)
        throw new CairnError(
          'CAIRN_CONFIG_INVALID',
          `${where}: ${file} uses ${undeclared.map((parameter) => `{{ ${parameter} }}`).join(', ')}, which config.templates.${name}.parameters does not declare; declare ${undeclared.length === 1 ? 'it' : 'them'} (e.g. parameters: { ${undeclared[0]}: {} }) or fix the placeholder.`,
          { path: `config.templates.${name}.parameters` },
        );
      loaded.set(name, { name, config, document });
    }
    return new RunTemplates(loaded);
  }

  list(): RunTemplateView[] {
    return [...this.#templates.values()].map(({ name, config }) => ({
      name,
      ...(config.description === undefined ? {} : { description: config.description }),
      parameters: Object.entries(config.parameters).map(([parameter, declared]) => ({
        name: parameter,
        required: declared.default === undefined,
        ...(declared.default === undefined ? {} : { default: declared.default }),
        ...(declared.description === undefined ? {} : { description: declared.description }),
      })),
    }));
  }

  has(name: string): boolean {
    return this.#templates.has(name);
  }

  /**
   * The template's spec with `parameters` in it, checked: CAIRN_NOT_FOUND for an unknown template,
   * CAIRN_PAYLOAD_INVALID for an undeclared or missing parameter, CAIRN_RUN_SPEC_INVALID with every
   * problem at its JSON path, each naming the template and the parameters that filled it.
   */
  fill(name: string, parameters: Readonly<Record<string, string>>): FilledTemplate {
    const template = this.#templates.get(name);
    if (template === undefined)
      throw new CairnError(
        'CAIRN_NOT_FOUND',
        `There is no template ${JSON.stringify(name)} on this server (${this.#templates.size === 0 ? 'it has none' : `it has ${[...this.#templates.keys()].join(', ')}`}); templates are configured under templates: in its config.`,
        { path: 'template' },
      );
    const declared = template.config.parameters;
    const unknown = Object.keys(parameters).filter((parameter) => !(parameter in declared));
    if (unknown.length > 0)
      throw new CairnError(
        'CAIRN_PAYLOAD_INVALID',
        `The template ${name} has no parameter ${unknown.join(', ')}; it takes ${Object.keys(declared).join(', ') || 'none'}.`,
        {
          path: `parameters.${unknown[0]}`,
          action: `Give only the parameters templates.${name}.parameters declares (\`cairn templates\` lists them), or declare ${unknown[0]} there.`,
        },
      );
    const missing = Object.keys(declared).filter((parameter) => parameters[parameter] === undefined && declared[parameter]!.default === undefined);
    if (missing.length > 0)
      throw new CairnError('CAIRN_PAYLOAD_INVALID', `The template ${name} needs ${missing.map((parameter) => `--param ${parameter}=...`).join(', ')}.`, {
        path: `parameters.${missing[0]}`,
        action: `Give ${missing.join(', ')}, or a default for ${missing.length === 1 ? 'it' : 'each'} in templates.${name}.parameters.`,
      });
    const values = Object.fromEntries(Object.entries(declared).map(([parameter, { default: fallback }]) => [parameter, parameters[parameter] ?? fallback!]));
    const filledPaths = new Map<string, string[]>();
    const document = foldedName(fillValue(template.document, '$', values, filledPaths), filledPaths);
    const filled = { template: name, document, triggerSecrets: template.config.triggerSecrets, filledPaths };
    const checked = validateRunSpec(document);
    if (!checked.ok) throw templateSpecError(filled, checked.issues);
    return filled;
  }
}

/**
 * A refusal of a filled template's spec (by the check here, or the engine's on submit), each
 * problem at its JSON path and naming the template and, where one filled that value, the parameter.
 */
export function templateSpecError(filled: FilledTemplate, issues: readonly ValidationIssue[]): CairnError {
  const named = issues.map((issue) => {
    const parameters = filled.filledPaths.get(issue.path);
    const from = parameters === undefined ? `template ${filled.template}` : `template ${filled.template}, parameter ${parameters.join(', ')}`;
    // Inside the issue's own sentence: `... cannot be given one (template t, parameter p).`
    return { ...issue, message: issue.message.replace(/\.?$/, ` (${from}).`) };
  });
  const [first] = named;
  const culprit = named.find((issue) => filled.filledPaths.has(issue.path)) ?? first!;
  return new CairnError(
    'CAIRN_RUN_SPEC_INVALID',
    `The run spec of template ${filled.template}, filled, has ${named.length === 1 ? '1 problem' : `${named.length} problems`}: ${culprit.path} ${culprit.message}`,
    { path: culprit.path, issues: named },
  );
}

/** Submits with `submit`, naming the template and parameters in a refusal of its spec. */
export async function submitFilled<T>(filled: FilledTemplate, submit: (document: unknown) => Promise<T>): Promise<T> {
  try {
    return await submit(filled.document);
  } catch (error) {
    if (isCairnError(error, 'CAIRN_RUN_SPEC_INVALID') && error.issues.length > 0) throw templateSpecError(filled, error.issues);
    throw error;
  }
}

/**
 * A run's name is one line of text: a parameter that brought line breaks or other control
 * characters into it (an issue's title, a payload's value) has them folded into single spaces, so
 * a triggered run is not refused for its sender's punctuation and no log line can be forged.
 */
function foldedName(document: unknown, filledPaths: ReadonlyMap<string, readonly string[]>): unknown {
  if (!filledPaths.has('$.name') || typeof document !== 'object' || document === null || !('name' in document) || typeof document.name !== 'string')
    return document;
  return { ...document, name: document.name.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim() };
}

function fillValue(value: unknown, path: string, values: Readonly<Record<string, string>>, filledPaths: Map<string, string[]>): unknown {
  if (typeof value === 'string') {
    const used: string[] = [];
    const filled = value.replace(placeholder, (_match, parameter: string) => {
      used.push(parameter);
      return values[parameter]!;
    });
    if (used.length > 0) filledPaths.set(path, [...new Set(used)]);
    return filled;
  }
  if (Array.isArray(value)) return value.map((entry, index) => fillValue(entry, `${path}[${index}]`, values, filledPaths));
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, fillValue(entry, `${path}.${key}`, values, filledPaths)]));
  return value;
}

function placeholdersIn(value: unknown): string[] {
  if (typeof value === 'string') return [...value.matchAll(placeholder)].map((match) => match[1]!);
  if (Array.isArray(value)) return value.flatMap(placeholdersIn);
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(placeholdersIn);
  return [];
}
