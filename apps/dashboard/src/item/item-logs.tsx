import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError } from '../api/api-error.ts';
import type { DashboardApi } from '../api/dashboard-api.ts';
import { transcriptOf } from './agent-transcript.ts';
import { AgentTranscript } from './agent-transcript-view.tsx';

type LogLine = { stream: 'stdout' | 'stderr'; text: string } | { end: { attempt: number; state: string; exitCode: number | null; finishedAt?: string } };

/** Output kept on the page at most: a runaway item cannot exhaust the tab. */
const maximumCharacters = 2_000_000;

/**
 * An item's output (`GET .../logs`, NDJSON): of its latest attempt or `attempt`, followed live
 * while the item runs (`?follow=true` streams until the attempt ends), stdout and stderr in one
 * pane in the order they came, stderr marked. An agent's stream of JSON events is shown as a
 * transcript (messages, tool calls, results), its raw output a click away. Which attempt it shows,
 * and how it ended, come from the answer's `end` line.
 */
export function ItemLogs({
  api,
  path,
  follow,
  attempt,
}: {
  readonly api: DashboardApi;
  readonly path: string;
  readonly follow: boolean;
  readonly attempt: number | null;
}) {
  const [pieces, setPieces] = useState<{ stream: string; text: string }[]>([]);
  const [end, setEnd] = useState<{ attempt: number; state: string; exitCode: number | null } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [truncated, setTruncated] = useState(false);
  const [raw, setRaw] = useState(false);
  const transcript = useMemo(
    () =>
      transcriptOf(
        pieces
          .filter((piece) => piece.stream === 'stdout')
          .map((piece) => piece.text)
          .join(''),
      ),
    [pieces],
  );
  useEffect(() => {
    const controller = new AbortController();
    setPieces([]);
    setEnd(null);
    setProblem(null);
    void (async () => {
      try {
        const query = new URLSearchParams({ ...(follow ? { follow: 'true' } : {}), ...(attempt === null ? {} : { attempt: String(attempt) }) });
        const response = await api.request('GET', `${path}/logs?${query}`, { signal: controller.signal });
        const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        let characters = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buffer += value;
          const lines = buffer.split('\n');
          buffer = lines.pop()!;
          const added: { stream: string; text: string }[] = [];
          for (const line of lines) {
            if (line.trim() === '') continue;
            const parsed = JSON.parse(line) as LogLine;
            if ('end' in parsed) setEnd(parsed.end);
            else if (characters < maximumCharacters) {
              characters += parsed.text.length;
              added.push({ stream: parsed.stream, text: parsed.text });
            } else setTruncated(true);
          }
          if (added.length > 0) setPieces((current) => [...current, ...added]);
        }
      } catch (failure) {
        if (controller.signal.aborted) return;
        setProblem(
          failure instanceof ApiError && failure.status === 404
            ? 'No output: the item has not run.'
            : String(failure instanceof Error ? failure.message : failure),
        );
      }
    })();
    return () => controller.abort();
  }, [api, path, follow, attempt]);
  return (
    <div class="logs">
      {problem ? (
        <p class="empty">{problem}</p>
      ) : (
        <>
          {transcript !== null && (
            <p class="transcript-toggle">
              <button type="button" aria-pressed={raw} onClick={() => setRaw(!raw)}>
                {raw ? 'Show the transcript' : 'Show the raw output'}
              </button>
            </p>
          )}
          {transcript !== null && !raw && <AgentTranscript entries={transcript} />}
          <pre class="log-output" hidden={transcript !== null && !raw} aria-live={follow ? 'polite' : 'off'} aria-label="Output">
            {pieces.length === 0 ? <span class="empty">{end ? '(no output)' : 'Waiting for output…'}</span> : null}
            {pieces.map((piece, index) =>
              piece.stream === 'stderr' ? (
                <span key={index} class="stderr-text">
                  {piece.text}
                </span>
              ) : (
                piece.text
              ),
            )}
          </pre>
        </>
      )}
      {truncated && <p class="notice">Output cut at {maximumCharacters.toLocaleString()} characters: download it with `cairn logs`.</p>}
      {end && (
        <p class="attempt-end">
          Attempt {end.attempt} ended <strong>{end.state}</strong>
          {end.exitCode === null ? '' : ` (exit code ${end.exitCode})`}
        </p>
      )}
    </div>
  );
}
