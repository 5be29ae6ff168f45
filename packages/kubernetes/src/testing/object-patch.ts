// The patches a client sends (merge patch and JSON patch), applied as the API server applies them.
import { badRequest, KubernetesStatusError } from './api-status.ts';
import { clone } from './kubernetes-resources.ts';

/** RFC 7386: null removes, objects merge, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const result = (typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...target } : {}) as Record<string, unknown>;
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'test' | 'move' | 'copy';
  path: string;
  value?: unknown;
  from?: string;
}

/** RFC 6902, the operations a client sends (add, remove, replace, test, move, copy). */
export function jsonPatch(document: unknown, operations: readonly JsonPatchOperation[]): unknown {
  const tokens = (pointer: string) =>
    pointer
      .split('/')
      .slice(1)
      .map((token) => token.replaceAll('~1', '/').replaceAll('~0', '~'));
  const parentOf = (root: unknown, pointer: string): [Record<string, unknown> | unknown[], string] => {
    const path = tokens(pointer);
    const last = path.pop();
    if (last === undefined) throw badRequest(`the JSON patch path ${JSON.stringify(pointer)} names the whole object`);
    const parent = path.reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], root);
    if (typeof parent !== 'object' || parent === null)
      throw new KubernetesStatusError(
        422,
        'Invalid',
        `the server rejected our request due to an error in our request: doc is missing path: ${JSON.stringify(pointer)}`,
      );
    return [parent as Record<string, unknown> | unknown[], last];
  };
  const read = (root: unknown, pointer: string) => tokens(pointer).reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], root);
  const put = (root: unknown, pointer: string, value: unknown, insert: boolean) => {
    const [parent, key] = parentOf(root, pointer);
    if (Array.isArray(parent)) {
      const index = key === '-' ? parent.length : Number(key);
      parent.splice(index, insert ? 0 : 1, clone(value));
    } else parent[key] = clone(value);
  };
  const remove = (root: unknown, pointer: string) => {
    const [parent, key] = parentOf(root, pointer);
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else {
      if (!(key in parent))
        throw new KubernetesStatusError(
          422,
          'Invalid',
          `the server rejected our request due to an error in our request: doc is missing path: ${JSON.stringify(pointer)}`,
        );
      delete parent[key];
    }
  };
  for (const operation of operations) {
    switch (operation.op) {
      case 'add':
        put(document, operation.path, operation.value, true);
        break;
      case 'replace':
        remove(document, operation.path);
        put(document, operation.path, operation.value, true);
        break;
      case 'remove':
        remove(document, operation.path);
        break;
      case 'test':
        if (JSON.stringify(read(document, operation.path)) !== JSON.stringify(operation.value)) {
          throw new KubernetesStatusError(
            422,
            'Invalid',
            `the server rejected our request due to an error in our request: testing value ${operation.path} failed`,
          );
        }
        break;
      case 'move':
      case 'copy': {
        const value = clone(read(document, operation.from ?? ''));
        if (operation.op === 'move') remove(document, operation.from ?? '');
        put(document, operation.path, value, true);
        break;
      }
      default:
        throw badRequest(`unknown JSON patch operation ${JSON.stringify((operation as { op: unknown }).op)}`);
    }
  }
  return document;
}
