/**
 * A small reading of the synthesised IAM policies, so the tests can ask "may this role do this
 * action on this resource?" rather than compare JSON: intrinsic functions are rendered as
 * placeholders (`{StorageBucket.Arn}`, `{Ref:AWS::Region}`), and actions and resources are matched
 * with IAM's `*` and `?` wildcards. Conditions are kept: a statement with a condition allows only
 * when it holds, which the caller checks.
 */

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | string[];
  readonly Resource: unknown;
  readonly Condition?: Record<string, Record<string, unknown>>;
}

interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Record<string, unknown>;
}

export type Template = { Resources: Record<string, TemplateResource> } & Record<string, unknown>;

/** An intrinsic function or literal as text, with `{LogicalId.Attribute}` and `{Ref:Id}` placeholders. */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    if ('Ref' in record) return `{Ref:${String(record.Ref)}}`;
    if ('Fn::GetAtt' in record) {
      const [logicalId, attribute] = record['Fn::GetAtt'] as [string, string];
      return `{${logicalId}.${attribute}}`;
    }
    if ('Fn::Join' in record) {
      const [separator, parts] = record['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(separator);
    }
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

function asList<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}

function wildcardMatches(pattern: string, value: string): boolean {
  const expression = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${expression}$`, 'i').test(value);
}

/** The logical id of the one resource of `type` whose id starts with `prefix` (CDK appends a hash). */
export function logicalIdOf(template: Template, type: string, prefix: string): string {
  const ids = Object.entries(template.Resources)
    .filter(([id, resource]) => resource.Type === type && id.startsWith(prefix))
    .map(([id]) => id);
  if (ids.length !== 1) throw new Error(`expected one ${type} named ${prefix}*, found ${ids.join(', ') || 'none'}`);
  return ids[0]!;
}

/** Every statement of every inline policy attached to the role, and of managed policies it lists. */
export function roleStatements(template: Template, roleLogicalId: string): PolicyStatement[] {
  const statements: PolicyStatement[] = [];
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy' && resource.Type !== 'AWS::IAM::ManagedPolicy') continue;
    const roles = (resource.Properties?.Roles as unknown[] | undefined) ?? [];
    if (!roles.some((role) => render(role) === `{Ref:${roleLogicalId}}`)) continue;
    statements.push(...((resource.Properties!.PolicyDocument as { Statement: PolicyStatement[] }).Statement ?? []));
  }
  const role = template.Resources[roleLogicalId];
  for (const policy of (role?.Properties?.Policies as { PolicyDocument: { Statement: PolicyStatement[] } }[] | undefined) ?? []) {
    statements.push(...policy.PolicyDocument.Statement);
  }
  return statements;
}

export function managedPolicyStatements(template: Template, policyLogicalId: string): PolicyStatement[] {
  return (template.Resources[policyLogicalId]!.Properties!.PolicyDocument as { Statement: PolicyStatement[] }).Statement;
}

/** The Allow statements that name `action` on `resource` (both rendered), whatever their conditions. */
export function allowingStatements(statements: readonly PolicyStatement[], action: string, resource: string): PolicyStatement[] {
  return statements.filter(
    (statement) =>
      statement.Effect === 'Allow' &&
      asList(statement.Action).some((pattern) => wildcardMatches(pattern, action)) &&
      asList(statement.Resource).some((pattern) => wildcardMatches(render(pattern), resource)),
  );
}

/** Every action any Allow statement names, on any resource. */
export function allowedActions(statements: readonly PolicyStatement[]): string[] {
  return statements.filter((statement) => statement.Effect === 'Allow').flatMap((statement) => asList(statement.Action));
}

/** Every resource any Allow statement names, rendered. */
export function allowedResources(statements: readonly PolicyStatement[]): string[] {
  return statements.filter((statement) => statement.Effect === 'Allow').flatMap((statement) => asList(statement.Resource).map(render));
}
