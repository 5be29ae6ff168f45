// Which objects a request or a test hook names: label and field selectors, and `PodMatch`.
import { badRequest } from './api-status.ts';
import type { KubernetesObject } from './kubernetes-resources.ts';
import { parseLabelSelector } from './label-selector.ts';

/** Pods a test hook applies to: by name, by label selector, or (neither given) every pod. */
export interface PodMatch {
  readonly name?: string;
  readonly labelSelector?: string;
}

/** `labelSelector` and `fieldSelector` (metadata.name, metadata.namespace, status.phase, spec.nodeName) as one predicate. */
export function selection(query: Readonly<Record<string, string>>): (object: KubernetesObject) => boolean {
  let labels: ReturnType<typeof parseLabelSelector>;
  try {
    labels = parseLabelSelector(query['labelSelector'] ?? '');
  } catch (error) {
    throw badRequest((error as Error).message);
  }
  const fields: { path: string; equal: boolean; value: string }[] = [];
  for (const part of (query['fieldSelector'] ?? '').split(',').filter((text) => text.trim() !== '')) {
    const match = /^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(part);
    if (!match || !['metadata.name', 'metadata.namespace', 'status.phase', 'spec.nodeName'].includes(match[1]!)) {
      throw badRequest(`"${part.split(/[=!]/)[0]}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
    }
    fields.push({ path: match[1]!, equal: match[2] !== '!=', value: match[3]! });
  }
  return (object) =>
    labels(object.metadata.labels) &&
    fields.every((field) => {
      const value = field.path.split('.').reduce<unknown>((parent, key) => (parent as Record<string, unknown> | undefined)?.[key], object) ?? '';
      return (String(value) === field.value) === field.equal;
    });
}

export function podMatches(pod: KubernetesObject, match: PodMatch): boolean {
  if (match.name !== undefined && pod.metadata.name !== match.name) return false;
  return match.labelSelector === undefined || parseLabelSelector(match.labelSelector)(pod.metadata.labels);
}
