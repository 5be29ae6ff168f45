// An object checked against a CustomResourceDefinition's `openAPIV3Schema`, as the API server
// checks a custom resource: the structural subset CRDs use (type, properties, required, enum,
// formats date-time and int32, pattern, lengths, bounds, items and maps). Unlike the API server,
// which prunes (or with fieldValidation=Strict refuses) unknown fields, an unknown field is an error
// here: a misspelt field would otherwise pass silently. CEL rules (`x-kubernetes-validations`) are
// checked only where this file knows the rule (`knownRules`, each written out in TypeScript; a
// transition rule, one that reads `oldSelf`, only on an update, as the API server does); a schema
// with any other rule is refused loudly rather than half-checked. Test support.

/** The part of an OpenAPI v3 schema a CRD's structural schema uses. */
export interface StructuralSchema {
  readonly type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  readonly properties?: Readonly<Record<string, StructuralSchema>>;
  readonly additionalProperties?: StructuralSchema | boolean;
  readonly required?: readonly string[];
  readonly items?: StructuralSchema;
  readonly enum?: readonly unknown[];
  readonly format?: string;
  readonly pattern?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly maxItems?: number;
  readonly nullable?: boolean;
  readonly 'x-kubernetes-preserve-unknown-fields'?: boolean;
  readonly 'x-kubernetes-int-or-string'?: boolean;
  readonly 'x-kubernetes-validations'?: unknown;
}

/** One thing wrong with an object, at its JSON path (`spec.warmPoolRef.name`). */
export interface SchemaProblem {
  readonly path: string;
  readonly message: string;
}

const int32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };

const same = (left: unknown, right: unknown) => JSON.stringify(left) === JSON.stringify(right);
const has = (object: unknown, field: string) => typeof object === 'object' && object !== null && (object as Record<string, unknown>)[field] !== undefined;

/** The CEL rules of the agent-sandbox CRDs, by their text (whitespace folded), as functions of self and oldSelf. */
const knownRules: Readonly<Record<string, (self: unknown, oldSelf: unknown) => boolean>> = {
  // agents.x-k8s.io Sandbox spec: volumeClaimTemplates is immutable.
  'has(self.volumeClaimTemplates) == has(oldSelf.volumeClaimTemplates) && (!has(self.volumeClaimTemplates) || self.volumeClaimTemplates == oldSelf.volumeClaimTemplates)':
    (self, oldSelf) =>
      has(self, 'volumeClaimTemplates') === has(oldSelf, 'volumeClaimTemplates') &&
      (!has(self, 'volumeClaimTemplates') ||
        same((self as Record<string, unknown>)['volumeClaimTemplates'], (oldSelf as Record<string, unknown>)['volumeClaimTemplates'])),
};

/** The CEL rules of a schema node: each known one evaluated (a transition rule only with an old value), an unknown one refused. */
function celProblems(schema: StructuralSchema, value: unknown, old: unknown, path: string): SchemaProblem[] {
  const rules = schema['x-kubernetes-validations'] as readonly { rule: string; message?: string }[] | undefined;
  if (rules === undefined) return [];
  const problems: SchemaProblem[] = [];
  for (const { rule, message } of rules) {
    const check = knownRules[rule.replaceAll(/\s+/g, ' ').trim()];
    if (check === undefined)
      throw new Error(`${path}: the CEL rule ${JSON.stringify(rule)} is not checked by this test support; write it in knownRules before relying on it`);
    if (rule.includes('oldSelf') && old === undefined) continue;
    if (!check(value, old)) problems.push({ path: path === '' ? '<root>' : path, message: message ?? `failed rule: ${rule}` });
  }
  return problems;
}

/** Every problem of `value` against `schema`, in document order; empty when it conforms. `old` is the stored object on an update. */
export function checkSchema(schema: StructuralSchema, value: unknown, path = '', old?: unknown): SchemaProblem[] {
  const rules = celProblems(schema, value, old, path);
  return rules.length > 0 ? rules : checkStructure(schema, value, path, old);
}

function checkStructure(schema: StructuralSchema, value: unknown, path: string, old: unknown): SchemaProblem[] {
  const at = (name: string | number) => (typeof name === 'number' ? `${path}[${name}]` : path === '' ? name : `${path}.${name}`);
  const problem = (message: string): SchemaProblem[] => [{ path: path === '' ? '<root>' : path, message }];
  if (value === null) return schema.nullable ? [] : problem('must not be null');
  if (schema['x-kubernetes-int-or-string']) return typeof value === 'string' || Number.isInteger(value) ? [] : problem('must be an integer or a string');
  if (schema.enum !== undefined && !schema.enum.includes(value))
    return problem(`must be one of ${schema.enum.map((entry) => JSON.stringify(entry)).join(', ')}`);
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return problem('must be an object');
      const fields = value as Record<string, unknown>;
      const problems = (schema.required ?? []).filter((name) => fields[name] === undefined).map((name) => ({ path: at(name), message: 'is required' }));
      for (const [name, field] of Object.entries(fields)) {
        if (field === undefined) continue;
        const declared = schema.properties?.[name];
        const before = typeof old === 'object' && old !== null ? (old as Record<string, unknown>)[name] : undefined;
        if (declared !== undefined) problems.push(...checkSchema(declared, field, at(name), before));
        else if (typeof schema.additionalProperties === 'object') problems.push(...checkSchema(schema.additionalProperties, field, at(name)));
        else if (schema.additionalProperties !== true && !schema['x-kubernetes-preserve-unknown-fields'] && schema.properties !== undefined)
          problems.push({ path: at(name), message: 'is not a field of this object (unknown field)' });
      }
      return problems;
    }
    case 'array': {
      if (!Array.isArray(value)) return problem('must be an array');
      if (schema.maxItems !== undefined && value.length > schema.maxItems) return problem(`must have at most ${schema.maxItems} items`);
      return schema.items === undefined ? [] : value.flatMap((item, index) => checkSchema(schema.items!, item, at(index)));
    }
    case 'string': {
      if (typeof value !== 'string') return problem('must be a string');
      if (schema.minLength !== undefined && value.length < schema.minLength) return problem(`must be at least ${schema.minLength} characters`);
      if (schema.maxLength !== undefined && value.length > schema.maxLength) return problem(`must be at most ${schema.maxLength} characters`);
      if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) return problem(`must match ${schema.pattern}`);
      if (schema.format === 'date-time' && !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value))
        return problem('must be an RFC 3339 date-time');
      return [];
    }
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || (schema.type === 'integer' && !Number.isInteger(value)))
        return problem(`must be ${schema.type === 'integer' ? 'an integer' : 'a number'}`);
      if (schema.format === 'int32' && (value < int32.min || value > int32.max)) return problem('must fit in 32 bits');
      if (schema.minimum !== undefined && value < schema.minimum) return problem(`must be at least ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum) return problem(`must be at most ${schema.maximum}`);
      return [];
    }
    case 'boolean':
      return typeof value === 'boolean' ? [] : problem('must be a boolean');
    default:
      return [];
  }
}

/** A CustomResourceDefinition as a cluster has it installed (the fields the test endpoint reads). */
export interface CustomResourceDefinitionDocument {
  readonly spec: {
    readonly group: string;
    readonly names: { readonly kind: string; readonly plural: string };
    readonly versions: readonly { readonly name: string; readonly served?: boolean; readonly schema: { readonly openAPIV3Schema: StructuralSchema } }[];
  };
}
