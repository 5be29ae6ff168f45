import { expect, test } from 'vitest';
import { transcriptOf } from './agent-transcript.ts';

const streamJson = [
  { type: 'system', subtype: 'init', session_id: 's1' },
  {
    type: 'assistant',
    message: {
      content: [
        { type: 'text', text: 'I will read the README.' },
        { type: 'tool_use', id: 't1', name: 'Read', input: { file_path: 'README.md' } },
      ],
    },
  },
  { type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: '# Cairn' }] }] } },
  { type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 't2', content: 'denied', is_error: true }] } },
  { type: 'result', subtype: 'success', num_turns: 2, result: 'Tidied.' },
]
  .map((event) => JSON.stringify(event))
  .join('\n');

test("Claude Code's stream-json reads as messages, tool calls with their input, results (errors marked) and the end", () => {
  expect(transcriptOf(`${streamJson}\n`)).toEqual([
    { kind: 'event', type: 'system: init' },
    { kind: 'message', role: 'assistant', text: 'I will read the README.' },
    { kind: 'tool-call', name: 'Read', input: '{\n  "file_path": "README.md"\n}' },
    { kind: 'tool-result', text: '# Cairn', error: false },
    { kind: 'tool-result', text: 'denied', error: true },
    { kind: 'result', text: 'success · 2 turns · Tidied.' },
  ]);
});

test("a command's output, JSON lines without an agent's events, or a line that is not JSON is not a transcript", () => {
  expect(transcriptOf('hello\nworld\n')).toBeNull();
  expect(transcriptOf('{"level":30,"msg":"started"}\n')).toBeNull();
  expect(transcriptOf('{"type":"progress"}\n')).toBeNull();
  expect(transcriptOf(`${streamJson}\nplain text\n`)).toBeNull();
  expect(transcriptOf('')).toBeNull();
});
