import { useEffect, useState } from 'preact/hooks';

/** One input of a filter form: the query parameter it sets, its label, and a hint of what it takes. */
export interface FilterField {
  readonly name: string;
  readonly label: string;
  readonly hint: string;
  /** `time`: a date and time picker (in the browser's time zone, to the millisecond) for an RFC 3339 parameter. */
  readonly kind?: 'text' | 'time';
}

/** An RFC 3339 time as a `datetime-local` value in the browser's time zone; '' for none or one that is not a time. */
export function timeInputValue(iso: string | undefined): string {
  const time = iso === undefined ? Number.NaN : Date.parse(iso);
  if (Number.isNaN(time)) return '';
  const local = new Date(time - new Date(time).getTimezoneOffset() * 60_000).toISOString();
  return local.endsWith('.000Z') ? local.slice(0, 19) : local.slice(0, 23);
}

/** A `datetime-local` value (the browser's time zone) as the RFC 3339 UTC time the API takes; undefined for none. */
export function timeParameter(value: string): string | undefined {
  const time = value.trim() === '' ? Number.NaN : new Date(value).getTime();
  return Number.isNaN(time) ? undefined : new Date(time).toISOString();
}

/**
 * A form of filters: text, or date and time pickers for times. Applying writes them into the page's
 * URL (the caller does, through its route), times as RFC 3339 in UTC, so the list, a reload and a
 * shared link all read the same filters; an empty input is no filter. The inputs follow the URL
 * when it changes under them (back button, a link).
 */
export function FilterForm({
  label,
  fields,
  values,
  onApply,
  clearHref,
}: {
  readonly label: string;
  readonly fields: readonly FilterField[];
  readonly values: Readonly<Record<string, string | undefined>>;
  readonly onApply: (values: Record<string, string | undefined>) => void;
  readonly clearHref: string;
}) {
  const [draft, setDraft] = useState<Record<string, string>>({});
  const shown = fields.map((field) => values[field.name] ?? '').join('\u0000');
  useEffect(() => {
    setDraft(Object.fromEntries(fields.map((field) => [field.name, field.kind === 'time' ? timeInputValue(values[field.name]) : (values[field.name] ?? '')])));
  }, [shown]);
  return (
    <form
      class="filters"
      aria-label={label}
      onSubmit={(event) => {
        event.preventDefault();
        onApply(
          Object.fromEntries(
            fields.map((field) => [field.name, field.kind === 'time' ? timeParameter(draft[field.name] ?? '') : draft[field.name]?.trim() || undefined]),
          ),
        );
      }}
    >
      {fields.map((field) => (
        <label key={field.name}>
          <span>{field.label}</span>
          {field.kind === 'time' ? (
            <input
              type="datetime-local"
              // Milliseconds: runs submitted within a second of each other are told apart.
              step={0.001}
              name={field.name}
              value={draft[field.name] ?? ''}
              title={field.hint}
              onInput={(event) => setDraft((current) => ({ ...current, [field.name]: (event.target as HTMLInputElement).value }))}
            />
          ) : (
            <input
              type="text"
              name={field.name}
              value={draft[field.name] ?? ''}
              placeholder={field.hint}
              title={field.hint}
              autocomplete="off"
              spellcheck={false}
              onInput={(event) => setDraft((current) => ({ ...current, [field.name]: (event.target as HTMLInputElement).value }))}
            />
          )}
        </label>
      ))}
      <span class="filter-actions">
        <button type="submit">Apply</button>
        <a href={clearHref}>Clear</a>
      </span>
    </form>
  );
}
