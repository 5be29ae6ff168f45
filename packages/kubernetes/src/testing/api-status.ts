/** A field-level cause of an Invalid answer, as the API server lists them in `details.causes`. */
export interface StatusCause {
  readonly reason: 'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueNotSupported' | 'FieldValueDuplicate' | 'FieldValueForbidden' | 'FieldValueTooLong';
  readonly message: string;
  readonly field: string;
}

/** A `Status` body with its HTTP code: what the endpoint answers instead of an object. */
export class KubernetesStatusError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: number, reason: string, message: string, details?: Record<string, unknown>) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  /** The `Status` object of the answer (`metav1.Status`), as the API server serialises it. */
  status(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** 404: `pods "x" not found`. */
export const notFound = (resource: string, name: string, group?: string) =>
  new KubernetesStatusError(404, 'NotFound', `${qualified(resource, group)} "${name}" not found`, { name, ...(group ? { group } : {}), kind: resource });

/** 409: `pods "x" already exists`. */
export const alreadyExists = (resource: string, name: string, group?: string) =>
  new KubernetesStatusError(409, 'AlreadyExists', `${qualified(resource, group)} "${name}" already exists`, {
    name,
    ...(group ? { group } : {}),
    kind: resource,
  });

/** 409: an update with a stale `metadata.resourceVersion` (optimistic concurrency). */
export const conflict = (resource: string, name: string, group?: string) =>
  new KubernetesStatusError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(resource, group)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, ...(group ? { group } : {}), kind: resource },
  );

/** 422: `Pod "x" is invalid: spec.containers: Required value` (several causes in brackets). */
export function invalid(kind: string, name: string, causes: readonly StatusCause[], group?: string): KubernetesStatusError {
  const text = causes.map((cause) => `${cause.field}: ${cause.message}`);
  const summary = text.length === 1 ? text[0]! : `[${text.join(', ')}]`;
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  return new KubernetesStatusError(422, 'Invalid', `${qualifiedKind} "${name}" is invalid: ${summary}`, {
    name,
    ...(group ? { group } : {}),
    kind,
    causes,
  });
}

/** 400 BadRequest with the server's message. */
export const badRequest = (message: string) => new KubernetesStatusError(400, 'BadRequest', message);

/** 410 Expired: a watch or list from a resourceVersion the server no longer keeps. */
export const expired = (requested: string, oldest: number) => new KubernetesStatusError(410, 'Expired', `too old resource version: ${requested} (${oldest})`);

function qualified(resource: string, group: string | undefined): string {
  return group ? `${resource}.${group}` : resource;
}
