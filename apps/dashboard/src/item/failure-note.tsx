import type { components } from '../api/openapi.d.ts';

type AttemptFailure = components['schemas']['AttemptFailure'];

/**
 * Why an item failed, said once: the message's first line as its summary, the lines after it (a
 * merge conflict's hunks) beneath as written, how it ended, then the end of its stderr without the
 * lines the message already shows. The attempts table beneath names only the code of this failure,
 * and the output panel keeps the whole log.
 */
export function FailureNote({ failure }: { readonly failure: AttemptFailure }) {
  const [summary = '', ...rest] = failure.message.split(/\r?\n/);
  const detail = rest.join('\n').trim();
  const shown = new Set(rest.map((line) => line.trim()).filter((line) => line !== ''));
  const tail = failure.stderrTail
    .split('\n')
    .filter((line) => !shown.has(line.trim()))
    .join('\n')
    .trim();
  return (
    <div class="failure" role="note">
      <h3>Why it failed</h3>
      <p class="failure-summary">
        <code>{failure.code}</code> {summary}
      </p>
      {detail !== '' && <pre class="failure-detail">{detail}</pre>}
      <p class="hint">
        {failure.exitCode !== null ? `exit code ${failure.exitCode}` : failure.signal !== null ? `signal ${failure.signal}` : 'it did not run to an exit'}
        {failure.rule ? ` · refused by rule ${failure.rule}` : ''}
      </p>
      {tail !== '' && <pre class="stderr">{tail}</pre>}
    </div>
  );
}
