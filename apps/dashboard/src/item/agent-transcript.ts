/** One step of an agent's transcript, read from its stream-json output. */
export type TranscriptEntry =
  | { readonly kind: 'message'; readonly role: 'assistant' | 'user'; readonly text: string }
  | { readonly kind: 'tool-call'; readonly name: string; readonly input: string }
  | { readonly kind: 'tool-result'; readonly text: string; readonly error: boolean }
  | { readonly kind: 'result'; readonly text: string }
  | { readonly kind: 'event'; readonly type: string };

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A tool result's content as text: a string, or the text parts of a content list. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content))
    return content.map((part) => (isObject(part) && typeof part['text'] === 'string' ? part['text'] : JSON.stringify(part))).join('\n');
  return content === undefined ? '' : JSON.stringify(content);
}

/** The entries of one message's content list (Anthropic's shape, which Claude Code's stream-json carries). */
function contentEntries(role: 'assistant' | 'user', content: unknown): TranscriptEntry[] {
  if (typeof content === 'string') return content.trim() === '' ? [] : [{ kind: 'message', role, text: content }];
  if (!Array.isArray(content)) return [];
  return content.flatMap((part): TranscriptEntry[] => {
    if (!isObject(part)) return [];
    if (part['type'] === 'text' && typeof part['text'] === 'string') return part['text'].trim() === '' ? [] : [{ kind: 'message', role, text: part['text'] }];
    if (part['type'] === 'tool_use') return [{ kind: 'tool-call', name: String(part['name'] ?? 'tool'), input: JSON.stringify(part['input'] ?? {}, null, 2) }];
    if (part['type'] === 'tool_result') return [{ kind: 'tool-result', text: contentText(part['content']), error: part['is_error'] === true }];
    return [];
  });
}

/**
 * An agent's output as a transcript — its messages, tool calls and their results, and how it
 * ended — when the output is a stream of JSON events (Claude Code's `stream-json`: `assistant`,
 * `user`, `result`, `system` lines); null for any other output, which is shown as it is. Every
 * non-empty line must be a JSON object with a `type`, so a command's output is never mistaken for one.
 */
export function transcriptOf(stdout: string): TranscriptEntry[] | null {
  const lines = stdout.split('\n').filter((line) => line.trim() !== '');
  if (lines.length === 0) return null;
  const entries: TranscriptEntry[] = [];
  let recognised = false;
  for (const line of lines) {
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      return null;
    }
    if (!isObject(event) || typeof event['type'] !== 'string') return null;
    const type = event['type'];
    const message = isObject(event['message']) ? event['message'] : undefined;
    if ((type === 'assistant' || type === 'user') && message !== undefined) {
      recognised = true;
      entries.push(...contentEntries(type, message['content']));
    } else if (type === 'result') {
      recognised = true;
      const parts = [
        typeof event['subtype'] === 'string' ? event['subtype'] : undefined,
        typeof event['num_turns'] === 'number' ? `${event['num_turns']} turns` : undefined,
        typeof event['result'] === 'string' ? event['result'] : undefined,
      ].filter((part) => part !== undefined);
      entries.push({ kind: 'result', text: parts.join(' · ') });
    } else entries.push({ kind: 'event', type: typeof event['subtype'] === 'string' ? `${type}: ${event['subtype']}` : type });
  }
  return recognised ? entries : null;
}
