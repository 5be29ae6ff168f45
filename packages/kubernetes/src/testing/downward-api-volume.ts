// A downwardAPI volume as the kubelet keeps it, for the Kubernetes test endpoint: each item's file
// holds a pod field; `metadata.labels` and `metadata.annotations` are rendered as the kubelet's
// fieldpath.FormatMap renders them (sorted `key="value"` lines, each value quoted as Go's %q quotes
// it), and rewritten when the pod's metadata changes, by writing a new file and renaming it over the
// old one (the kubelet's atomic writer swaps a whole directory; a reader never sees half a file).
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A `downwardAPI` volume source as a pod spec gives it (the fields the endpoint serves). */
export interface DownwardApiVolumeSource {
  readonly items?: readonly { readonly path: string; readonly fieldRef?: { readonly fieldPath: string }; readonly mode?: number }[];
  readonly defaultMode?: number;
}

/** The pod metadata a downwardAPI file can hold. */
export interface DownwardPodMetadata {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly labels?: Readonly<Record<string, string>> | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

/** The fields the kubelet allows in a downwardAPI volume; others it refuses at admission (here: the container does not start). */
const volumeFields = ['metadata.name', 'metadata.namespace', 'metadata.uid', 'metadata.labels', 'metadata.annotations'] as const;

/** The field paths of a volume's items that the endpoint cannot render (resourceFieldRef, unknown fields). */
export function unsupportedDownwardFields(source: DownwardApiVolumeSource): string[] {
  return (source.items ?? [])
    .filter((item) => item.fieldRef === undefined || !(volumeFields as readonly string[]).includes(item.fieldRef.fieldPath))
    .map((item) => item.fieldRef?.fieldPath ?? `${item.path} (resourceFieldRef)`);
}

/** Writes (or rewrites) every item of the volume into `folder` from the pod's metadata now. */
export function writeDownwardApiVolume(folder: string, source: DownwardApiVolumeSource, pod: DownwardPodMetadata): void {
  for (const item of source.items ?? []) {
    const target = join(folder, item.path);
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    const next = join(dirname(target), `..${item.path.replaceAll('/', '_')}.next`);
    writeFileSync(next, downwardFieldValue(item.fieldRef!.fieldPath, pod), { mode: item.mode ?? source.defaultMode ?? 0o644 });
    renameSync(next, target);
  }
}

function downwardFieldValue(fieldPath: string, pod: DownwardPodMetadata): string {
  switch (fieldPath) {
    case 'metadata.labels':
      return formatMap(pod.labels ?? {});
    case 'metadata.annotations':
      return formatMap(pod.annotations ?? {});
    case 'metadata.name':
      return pod.name;
    case 'metadata.namespace':
      return pod.namespace;
    default:
      return pod.uid;
  }
}

/** fieldpath.FormatMap: `key=%q` per entry in key order, joined by newlines, none after the last. */
export function formatMap(map: Readonly<Record<string, string>>): string {
  return Object.keys(map)
    .sort()
    .map((key) => `${key}=${goQuote(map[key]!)}`)
    .join('\n');
}

/** strconv.Quote: printable characters as they are, the usual escapes, \x for other bytes below 0x80, \u and \U above. */
function goQuote(value: string): string {
  let quoted = '"';
  for (const character of value) {
    const point = character.codePointAt(0)!;
    if (character === '"' || character === '\\') quoted += `\\${character}`;
    else if (character === '\x07') quoted += '\\a';
    else if (character === '\b') quoted += '\\b';
    else if (character === '\f') quoted += '\\f';
    else if (character === '\n') quoted += '\\n';
    else if (character === '\r') quoted += '\\r';
    else if (character === '\t') quoted += '\\t';
    else if (character === '\v') quoted += '\\v';
    else if (point < 0x20 || point === 0x7f) quoted += `\\x${point.toString(16).padStart(2, '0')}`;
    // Go's unicode.IsPrint: separators other than the space, and other format characters, are escaped.
    else if (point >= 0x80 && /[\p{Z}\p{C}]/u.test(character))
      quoted += point > 0xffff ? `\\U${point.toString(16).padStart(8, '0')}` : `\\u${point.toString(16).padStart(4, '0')}`;
    else quoted += character;
  }
  return `${quoted}"`;
}
