import { useEffect, useState } from 'preact/hooks';

/** One input of a filter form: the query parameter it sets, its label, and a hint of what it takes. */
export interface FilterField {
  readonly name: string;
  readonly label: string;
  readonly hint: string;
}

/**
 * A form of text filters. Applying writes them into the page's URL (the caller does, through its
 * route), so the list, a reload and a shared link all read the same filters; an empty input is no
 * filter. The inputs follow the URL when it changes under them (back button, a link).
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
    setDraft(Object.fromEntries(fields.map((field) => [field.name, values[field.name] ?? ''])));
  }, [shown]);
  return (
    <form
      class="filters"
      aria-label={label}
      onSubmit={(event) => {
        event.preventDefault();
        onApply(Object.fromEntries(fields.map((field) => [field.name, draft[field.name]?.trim() || undefined])));
      }}
    >
      {fields.map((field) => (
        <label key={field.name}>
          <span>{field.label}</span>
          <input
            type="text"
            name={field.name}
            value={draft[field.name] ?? ''}
            placeholder={field.hint}
            autocomplete="off"
            spellcheck={false}
            onInput={(event) => setDraft((current) => ({ ...current, [field.name]: (event.target as HTMLInputElement).value }))}
          />
        </label>
      ))}
      <span class="filter-actions">
        <button type="submit">Apply</button>
        <a href={clearHref}>Clear</a>
      </span>
    </form>
  );
}
