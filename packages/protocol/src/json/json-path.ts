/** `.name` for identifier-like names, `["na me"]` otherwise, `[3]` for indexes. */
export function formatPathSegment(segment: string | number): string {
  if (typeof segment === 'number') return `[${segment}]`;
  return /^[A-Za-z_$][\w$]*$/.test(segment) ? `.${segment}` : `[${JSON.stringify(segment)}]`;
}

/**
 * The JSON path every Cairn error uses to say where a problem is: `$.items[2].dependsOn[0]`.
 * Symbols (which never occur in parsed JSON) are written by their description.
 */
export function formatJsonPath(segments: readonly PropertyKey[]): string {
  let path = '$';
  for (const segment of segments) path += formatPathSegment(typeof segment === 'symbol' ? String(segment.description) : segment);
  return path;
}
