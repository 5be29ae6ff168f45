import type { TranscriptEntry } from './agent-transcript.ts';

/** An agent's transcript, step by step: what it said, each tool it called with what, each result, and how it ended. */
export function AgentTranscript({ entries }: { readonly entries: readonly TranscriptEntry[] }) {
  return (
    <ol class="transcript" aria-label="Transcript">
      {entries.map((entry, index) => {
        switch (entry.kind) {
          case 'message':
            return (
              <li key={index} class={`transcript-message transcript-${entry.role}`}>
                <span class="transcript-label">{entry.role === 'assistant' ? 'Agent' : 'Prompt'}</span>
                <p>{entry.text}</p>
              </li>
            );
          case 'tool-call':
            return (
              <li key={index} class="transcript-tool-call">
                <span class="transcript-label">
                  Tool call <code>{entry.name}</code>
                </span>
                <pre>{entry.input}</pre>
              </li>
            );
          case 'tool-result':
            return (
              <li key={index} class={`transcript-tool-result${entry.error ? ' transcript-error' : ''}`}>
                <span class="transcript-label">{entry.error ? 'Tool error' : 'Tool result'}</span>
                <pre>{entry.text}</pre>
              </li>
            );
          case 'result':
            return (
              <li key={index} class="transcript-result">
                <span class="transcript-label">Ended</span> {entry.text}
              </li>
            );
          default:
            return (
              <li key={index} class="transcript-event hint">
                {entry.type}
              </li>
            );
        }
      })}
    </ol>
  );
}
