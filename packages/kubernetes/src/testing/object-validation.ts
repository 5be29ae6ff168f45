import { DeleteOptions } from '@kubernetes-models/apimachinery/apis/meta/v1/DeleteOptions';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import type { StatusCause } from './api-status.ts';
import { parseQuantity } from './quantity.ts';

/** The kinds the endpoint stores. */
export type StoredKind = 'Pod' | 'Secret' | 'NetworkPolicy';

/** One error of the schema validator (ajv's shape, as `kubernetes-models` raises them). */
interface SchemaError {
  readonly instancePath: string;
  readonly keyword: string;
  readonly params: Record<string, unknown>;
  readonly message?: string;
}

const models = { Pod, Secret, NetworkPolicy, DeleteOptions } as const;

/**
 * Validates an object the endpoint was sent against the Kubernetes OpenAPI schema of its kind
 * (`kubernetes-models`' generated validators), then against the API server's own rules the schema
 * does not carry and a Cairn executor could break (names, labels, containers, images, restart
 * policy, requests within limits, secret keys). Returns the causes, empty when it is valid.
 */
export function validateObject(kind: StoredKind | 'DeleteOptions', object: Record<string, unknown>): StatusCause[] {
  const schemaCauses = schemaValidation(kind, object);
  if (schemaCauses.length > 0 || kind === 'DeleteOptions') return schemaCauses;
  return [...metadataCauses(object), ...(kind === 'Pod' ? podCauses(object) : kind === 'Secret' ? secretCauses(object) : [])];
}

function schemaValidation(kind: keyof typeof models, object: Record<string, unknown>): StatusCause[] {
  try {
    // The classes add apiVersion and kind; an object sent with others is refused before this.
    new models[kind](object as never).validate();
    return [];
  } catch (error) {
    const errors = (error as { errors?: SchemaError[] }).errors;
    if (!errors) throw error;
    return schemaCauses(errors, object);
  }
}

/** Ajv's errors as the API server's causes: one per field, the most telling one (a `oneOf` names no reason). */
function schemaCauses(errors: readonly SchemaError[], object: Record<string, unknown>): StatusCause[] {
  const byField = new Map<string, StatusCause>();
  for (const error of errors) {
    const segments = error.instancePath
      .split('/')
      .slice(1)
      .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'));
    if (error.keyword === 'required') {
      const field = fieldPath([...segments, String(error.params['missingProperty'])]);
      byField.set(field, { reason: 'FieldValueRequired', message: 'Required value', field });
      continue;
    }
    const field = fieldPath(segments);
    if (byField.has(field) && (error.keyword === 'oneOf' || error.keyword === 'anyOf' || error.keyword === 'type')) continue;
    const value = segments.reduce<unknown>((parent, key) => (parent as Record<string, unknown> | undefined)?.[key], object);
    const cause: StatusCause = {
      reason: error.keyword === 'enum' ? 'FieldValueNotSupported' : 'FieldValueInvalid',
      message: `Invalid value: ${JSON.stringify(value)}: ${error.message ?? error.keyword}`,
      field,
    };
    const known = byField.get(field);
    // A quantity fails `type: number`, its format and the `oneOf` at once: its format says why.
    if (!known || error.keyword === 'format') byField.set(field, cause);
  }
  return [...byField.values()];
}

/** `spec.containers[0].env[1].name`, `metadata.labels[cairn.dev/run]`: the API server's field paths. */
function fieldPath(segments: readonly string[]): string {
  let path = '';
  for (const [index, segment] of segments.entries()) {
    // An entry of a map (a label, a secret's key, a resource name) is written in brackets.
    if (/^\d+$/.test(segment) || mapFields.has(segments[index - 1] ?? '')) path += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(segment)) path += path === '' ? segment : `.${segment}`;
    else path += `[${segment}]`;
  }
  return path;
}

const mapFields = new Set(['data', 'stringData', 'labels', 'annotations', 'limits', 'requests', 'nodeSelector', 'matchLabels']);

const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const labelKeyName = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const configKey = /^[-._a-zA-Z0-9]+$/;

const subdomainMessage =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const labelMessage =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

const invalidValue = (field: string, value: unknown, why: string): StatusCause => ({
  reason: 'FieldValueInvalid',
  message: `Invalid value: ${JSON.stringify(value)}: ${why}`,
  field,
});

/** What the API server checks of any object's metadata (its name, labels, annotations). */
export function metadataCauses(object: Record<string, unknown>): StatusCause[] {
  const causes: StatusCause[] = [];
  const metadata = (object['metadata'] ?? {}) as {
    name?: string;
    generateName?: string;
    labels?: Record<string, string>;
    ownerReferences?: { controller?: boolean; uid: string }[];
  };
  if (!metadata.name && !metadata.generateName) {
    causes.push({ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' });
  } else if (metadata.name !== undefined && (metadata.name.length > 253 || !dns1123Subdomain.test(metadata.name))) {
    causes.push(invalidValue('metadata.name', metadata.name, subdomainMessage));
  }
  for (const [key, value] of Object.entries(metadata.labels ?? {})) {
    const slash = key.lastIndexOf('/');
    const [prefix, name] = slash === -1 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
    if (name.length > 63 || !labelKeyName.test(name) || (prefix !== undefined && (prefix.length > 253 || !dns1123Subdomain.test(prefix)))) {
      causes.push(
        invalidValue(
          'metadata.labels',
          key,
          "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        ),
      );
    }
    if (value.length > 63 || !labelValue.test(value)) {
      causes.push(
        invalidValue(
          'metadata.labels',
          value,
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ),
      );
    }
  }
  const references = metadata.ownerReferences ?? [];
  for (const [index, reference] of references.entries()) {
    if (reference.uid === '') causes.push(invalidValue(`metadata.ownerReferences[${index}].uid`, '', 'uid must not be empty'));
  }
  if (references.filter((reference) => reference.controller === true).length > 1) {
    causes.push(invalidValue('metadata.ownerReferences', references, 'Only one reference can have Controller set to true'));
  }
  return causes;
}

interface ContainerSpec {
  name: string;
  image?: string;
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string }[];
}

function podCauses(object: Record<string, unknown>): StatusCause[] {
  const causes: StatusCause[] = [];
  const spec = (object['spec'] ?? {}) as {
    containers?: ContainerSpec[];
    restartPolicy?: string;
    activeDeadlineSeconds?: number;
    volumes?: { name: string }[];
  };
  const containers = spec.containers ?? [];
  if (containers.length === 0) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers' });
  const names = new Set<string>();
  const volumes = new Set((spec.volumes ?? []).map((volume) => volume.name));
  for (const [index, container] of containers.entries()) {
    const at = `spec.containers[${index}]`;
    if (!dns1123Label.test(container.name) || container.name.length > 63) causes.push(invalidValue(`${at}.name`, container.name, labelMessage));
    if (names.has(container.name))
      causes.push({ reason: 'FieldValueDuplicate', message: `Duplicate value: ${JSON.stringify(container.name)}`, field: `${at}.name` });
    names.add(container.name);
    if (!container.image?.trim()) causes.push({ reason: 'FieldValueRequired', message: 'Required value', field: `${at}.image` });
    for (const [envIndex, variable] of (container.env ?? []).entries()) {
      if (variable.name === '' || variable.name.includes('='))
        causes.push(
          invalidValue(
            `${at}.env[${envIndex}].name`,
            variable.name,
            "a valid environment variable name must consist only of printable ASCII characters other than '='",
          ),
        );
      if (variable.valueFrom !== undefined && variable.value)
        causes.push(invalidValue(`${at}.env[${envIndex}].valueFrom`, '', 'may not be specified when `value` is not empty'));
    }
    for (const [resource, request] of Object.entries(container.resources?.requests ?? {})) {
      const limit = container.resources?.limits?.[resource];
      if (limit !== undefined && (parseQuantity(request) ?? 0) > (parseQuantity(limit) ?? Infinity))
        causes.push(invalidValue(`${at}.resources.requests`, request, `must be less than or equal to ${resource} limit of ${limit}`));
    }
    for (const [mountIndex, mount] of (container.volumeMounts ?? []).entries()) {
      if (!volumes.has(mount.name))
        causes.push({ reason: 'FieldValueInvalid', message: `Not found: ${JSON.stringify(mount.name)}`, field: `${at}.volumeMounts[${mountIndex}].name` });
    }
  }
  if (spec.restartPolicy !== undefined && !['Always', 'OnFailure', 'Never'].includes(spec.restartPolicy)) {
    causes.push({
      reason: 'FieldValueNotSupported',
      message: `Unsupported value: ${JSON.stringify(spec.restartPolicy)}: supported values: "Always", "OnFailure", "Never"`,
      field: 'spec.restartPolicy',
    });
  }
  if (spec.activeDeadlineSeconds !== undefined && spec.activeDeadlineSeconds <= 0)
    causes.push(invalidValue('spec.activeDeadlineSeconds', spec.activeDeadlineSeconds, 'must be between 1 and 2147483647, inclusive'));
  return causes;
}

function secretCauses(object: Record<string, unknown>): StatusCause[] {
  const causes: StatusCause[] = [];
  const data = (object['data'] ?? {}) as Record<string, string>;
  const stringData = (object['stringData'] ?? {}) as Record<string, string>;
  let size = 0;
  for (const [field, entries] of [
    ['data', data],
    ['stringData', stringData],
  ] as const) {
    for (const [key, value] of Object.entries(entries)) {
      if (!configKey.test(key) || key.length > 253)
        causes.push(invalidValue(`${field}[${key}]`, key, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"));
      size += field === 'data' ? Buffer.from(value, 'base64').length : Buffer.byteLength(value);
    }
  }
  if (size > 1_048_576) causes.push({ reason: 'FieldValueTooLong', message: 'Too long: must have at most 1048576 bytes', field: 'data' });
  return causes;
}
