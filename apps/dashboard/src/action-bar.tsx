import { useState } from 'preact/hooks';

/** One button of an action bar: what it says, and what it asks the API to do (with the reason typed). */
export interface ActionButton {
  readonly label: string;
  readonly tone?: 'primary' | 'danger';
  readonly run: (reason: string | undefined) => Promise<unknown>;
}

/**
 * Buttons that change a run (approve, reject, cancel) with an optional reason, which the server
 * keeps in the audit entry of what was done. Shown only with at least one button: the caller
 * leaves out those the session may not use. A refusal is shown where it happened.
 */
export function ActionBar({ buttons, label }: { readonly buttons: readonly ActionButton[]; readonly label: string }) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  if (buttons.length === 0) return null;
  const act = async (button: ActionButton) => {
    setBusy(true);
    setProblem(null);
    try {
      await button.run(reason.trim() === '' ? undefined : reason.trim());
      setReason('');
    } catch (failure) {
      setProblem(failure instanceof Error ? failure.message : String(failure));
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="actions" role="group" aria-label={label}>
      <input
        type="text"
        aria-label="Reason (kept in the audit log)"
        placeholder="Reason (optional)"
        maxLength={2000}
        value={reason}
        onInput={(event) => setReason((event.target as HTMLInputElement).value)}
      />
      {buttons.map((button) => (
        <button key={button.label} type="button" class={button.tone ?? ''} disabled={busy} onClick={() => void act(button)}>
          {button.label}
        </button>
      ))}
      {problem && (
        <p class="error" role="alert">
          {problem}
        </p>
      )}
    </div>
  );
}
