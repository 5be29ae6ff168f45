import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ValidateFunction } from 'ajv';

/**
 * Checks a request to the GitHub test endpoint against GitHub's own published description of its
 * REST API (`@octokit/openapi`'s `api.github.com.json`, OpenAPI 3.0): that GitHub has the operation
 * (method and path), that every required query parameter is there and each one given has the
 * type and values the description allows, and that a JSON body has the shape its request body
 * schema allows. So a forge that sends what GitHub would refuse is refused here too, as GitHub
 * refuses it (422 and the field), not answered by a stand-in that only reads what it expects.
 */
export interface GitHubRequestCheck {
  /** Undefined when GitHub's description allows the request; else GitHub's status and body for it. */
  check(method: string, url: URL, body: unknown): { readonly status: number; readonly body: Record<string, unknown> } | undefined;
}

interface Operation {
  readonly pattern: RegExp;
  readonly template: string;
  readonly query: readonly { readonly name: string; readonly required: boolean; readonly validate: ValidateFunction }[];
  readonly body: { readonly required: boolean; readonly validate: ValidateFunction } | undefined;
}

interface Description {
  readonly paths: Record<string, Record<string, { parameters?: unknown[]; requestBody?: RequestBody; responses?: Record<string, unknown> }>>;
  readonly components: {
    readonly parameters: Record<string, Parameter>;
    readonly responses: Record<string, { content?: Record<string, { schema?: object }> }>;
  };
}
interface Parameter {
  readonly name: string;
  readonly in: string;
  readonly required?: boolean;
  readonly schema?: object;
}
interface RequestBody {
  readonly required?: boolean;
  readonly content?: Record<string, { schema?: object }>;
}

const documentationUrl = 'https://docs.github.com/rest';
const methods = ['get', 'post', 'put', 'patch', 'delete'];

let shared: GitHubRequestCheck | undefined;

/** The check, built once per test process (the description is 13 MB of JSON). */
export function githubRequestCheck(): GitHubRequestCheck {
  shared ??= buildCheck();
  return shared;
}

/** GitHub's REST description, loaded once per test process, and validators of the schemas in it, compiled on first use. */
export interface GitHubOpenApi {
  readonly description: Description;
  /** A validator of the schema at JSON pointer `pointer` in the description. */
  validatorAt(pointer: string): ValidateFunction;
}

let loaded: GitHubOpenApi | undefined;

export function githubOpenApi(): GitHubOpenApi {
  if (loaded !== undefined) return loaded;
  const file = createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.json');
  const description = JSON.parse(readFileSync(file, 'utf8')) as Description;
  allowNullWithoutType(description);
  // OpenAPI 3.0's schemas: `nullable` (which Ajv knows), and keywords Ajv's strict mode does not.
  const ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
  ajv.addSchema(description as object, 'github');
  const compiled = new Map<string, ValidateFunction>();
  loaded = {
    description,
    validatorAt(pointer) {
      let validate = compiled.get(pointer);
      if (validate === undefined) {
        validate = ajv.compile({ $ref: `github#${pointer}` });
        compiled.set(pointer, validate);
      }
      return validate;
    },
  };
  return loaded;
}

/** `segment` as one step of a JSON pointer. */
export const pointerStep = (segment: string) => segment.replaceAll('~', '~0').replaceAll('/', '~1');

/** The description's path template of `method` on `pathname` (a literal path before a template that also matches it), or undefined. */
export function operationTemplate(method: string, pathname: string): string | undefined {
  const verb = method.toLowerCase();
  let templates = templatesByMethod.get(verb);
  if (templates === undefined) {
    templates = Object.entries(githubOpenApi().description.paths)
      .filter(([, item]) => item[verb] !== undefined)
      .map(([template]) => ({ template, pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`) }))
      .sort((left, right) => (left.template.match(/\{/g)?.length ?? 0) - (right.template.match(/\{/g)?.length ?? 0));
    templatesByMethod.set(verb, templates);
  }
  return templates.find((candidate) => candidate.pattern.test(pathname))?.template;
}
const templatesByMethod = new Map<string, { template: string; pattern: RegExp }[]>();

function buildCheck(): GitHubRequestCheck {
  const { description, validatorAt } = githubOpenApi();
  const escape = pointerStep;
  const operations = new Map<string, Operation[]>();
  const operationsOf = (method: string): Operation[] => {
    let list = operations.get(method);
    if (list !== undefined) return list;
    list = [];
    for (const [template, item] of Object.entries(description.paths)) {
      const operation = item[method];
      if (operation === undefined) continue;
      const base = `/paths/${escape(template)}/${method}`;
      const query = (operation.parameters ?? []).flatMap((entry, index) => {
        const reference = (entry as { $ref?: string }).$ref;
        const parameter = reference === undefined ? (entry as Parameter) : description.components.parameters[reference.split('/').at(-1)!]!;
        if (parameter.in !== 'query' || parameter.schema === undefined) return [];
        const pointer =
          reference === undefined ? `${base}/parameters/${index}/schema` : `/components/parameters/${escape(reference.split('/').at(-1)!)}/schema`;
        return [{ name: parameter.name, required: parameter.required === true, validate: validatorAt(pointer) }];
      });
      const json = operation.requestBody?.content?.['application/json'];
      list.push({
        template,
        pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
        query,
        body:
          json?.schema === undefined
            ? undefined
            : { required: operation.requestBody?.required === true, validate: validatorAt(`${base}/requestBody/content/application~1json/schema`) },
      });
    }
    // A literal path wins over a template that also matches it (GitHub routes them so).
    list.sort((left, right) => (left.template.match(/\{/g)?.length ?? 0) - (right.template.match(/\{/g)?.length ?? 0));
    operations.set(method, list);
    return list;
  };

  return {
    check(method, url, body) {
      const verb = method.toLowerCase();
      const operation = methods.includes(verb) ? operationsOf(verb).find((candidate) => candidate.pattern.test(url.pathname)) : undefined;
      if (operation === undefined) return { status: 404, body: { message: 'Not Found', documentation_url: documentationUrl, status: '404' } };
      for (const parameter of operation.query) {
        const given = url.searchParams.get(parameter.name);
        if (given === null) {
          if (parameter.required) return invalid(`"${parameter.name}" wasn't supplied.`);
          continue;
        }
        // A query string is text: a number or boolean parameter is read as GitHub reads it.
        const value = /^-?\d+$/.test(given) ? Number(given) : given === 'true' ? true : given === 'false' ? false : given;
        if (!parameter.validate(value) && !parameter.validate(given)) return invalid(`For '${parameter.name}', ${JSON.stringify(given)} is not a valid value.`);
      }
      if (operation.body !== undefined && (body !== undefined || operation.body.required)) {
        if (!operation.body.validate(body ?? {})) {
          const [error] = operation.body.validate.errors ?? [];
          if (error?.keyword === 'required') return invalid(`"${String(error.params['missingProperty'])}" wasn't supplied.`);
          const where = error?.instancePath ? `properties${error.instancePath}` : 'the body';
          return invalid(`For '${where}', ${JSON.stringify(valueAt(body, error?.instancePath ?? ''))} ${error?.message ?? 'is not valid'}.`);
        }
      }
      return undefined;
    },
  };
}

/** GitHub's answer to a request its schema refuses. */
function invalid(detail: string) {
  return { status: 422, body: { message: `Invalid request.\n\n${detail}`, documentation_url: documentationUrl, status: '422' } };
}

function valueAt(body: unknown, pointer: string): unknown {
  let value = body;
  for (const segment of pointer.split('/').slice(1))
    value = (value as Record<string, unknown> | undefined)?.[segment.replaceAll('~1', '/').replaceAll('~0', '~')];
  return value ?? null;
}

/**
 * OpenAPI 3.0 lets `nullable: true` stand beside `oneOf`, `allOf` or a `$ref` without a `type`;
 * Ajv reads `nullable` only beside a `type`. Such a schema becomes "it, or null", which is what
 * the description means.
 */
function allowNullWithoutType(node: unknown): void {
  if (Array.isArray(node)) {
    for (const member of node) allowNullWithoutType(member);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const schema = node as Record<string, unknown>;
  for (const value of Object.values(schema)) allowNullWithoutType(value);
  if (schema['nullable'] === true && schema['type'] === undefined) {
    const { nullable: _nullable, ...rest } = schema;
    for (const key of Object.keys(schema)) delete schema[key];
    schema['anyOf'] = [rest, { type: 'null' }];
  }
}
