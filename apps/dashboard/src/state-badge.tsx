/**
 * A state as a coloured badge WITH its name as text: readable without colour (and by a screen
 * reader). The colour comes from the `state-<name>` class (styles.css).
 */
export function StateBadge({ state }: { readonly state: string }) {
  return <span class={`state-badge state-${state}`}>{state}</span>;
}
