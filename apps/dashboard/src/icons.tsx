/**
 * The dashboard's icons, as inline SVG: Lucide's drawings (https://lucide.dev, ISC licence), copied
 * for the few the pages use. Never a text glyph (⏸, ✓, emoji): Debian's Chromium may have no font
 * with it and draws an empty box. Each is `currentColor` strokes on a 24-unit grid, so it takes the
 * colour and size of the text around it; `label` names it for a screen reader, else it is hidden
 * from one (the text beside it says the same).
 */
const drawings = {
  pause: (
    <>
      <rect x="14" y="4" width="4" height="16" rx="1" />
      <rect x="6" y="4" width="4" height="16" rx="1" />
    </>
  ),
  check: <path d="M20 6 9 17l-5-5" />,
  x: (
    <>
      <path d="M18 6 6 18" />
      <path d="m6 6 12 12" />
    </>
  ),
  'circle-check': (
    <>
      <circle cx="12" cy="12" r="10" />
      <path d="m9 12 2 2 4-4" />
    </>
  ),
  'circle-x': (
    <>
      <circle cx="12" cy="12" r="10" />
      <path d="m15 9-6 6" />
      <path d="m9 9 6 6" />
    </>
  ),
  'circle-alert': (
    <>
      <circle cx="12" cy="12" r="10" />
      <line x1="12" x2="12" y1="8" y2="12" />
      <line x1="12" x2="12.01" y1="16" y2="16" />
    </>
  ),
  'circle-minus': (
    <>
      <circle cx="12" cy="12" r="10" />
      <path d="M8 12h8" />
    </>
  ),
  lock: (
    <>
      <rect width="18" height="11" x="3" y="11" rx="2" ry="2" />
      <path d="M7 11V7a5 5 0 0 1 10 0v4" />
    </>
  ),
  search: (
    <>
      <circle cx="11" cy="11" r="8" />
      <path d="m21 21-4.3-4.3" />
    </>
  ),
  'git-pull-request': (
    <>
      <circle cx="18" cy="18" r="3" />
      <circle cx="6" cy="6" r="3" />
      <path d="M13 6h3a2 2 0 0 1 2 2v7" />
      <line x1="6" x2="6" y1="9" y2="21" />
    </>
  ),
  'rotate-ccw': (
    <>
      <path d="M3 12a9 9 0 1 0 9-9 9.75 9.75 0 0 0-6.74 2.74L3 8" />
      <path d="M3 3v5h5" />
    </>
  ),
} as const;

export type IconName = keyof typeof drawings;

/**
 * An icon: `size` in px (default 1em, the text's size). Inside another SVG (the run's graph) give
 * `x` and `y`: it is drawn there as a nested SVG.
 */
export function Icon({
  name,
  label,
  size,
  x,
  y,
}: {
  readonly name: IconName;
  readonly label?: string;
  readonly size?: number;
  readonly x?: number;
  readonly y?: number;
}) {
  const dimension = size === undefined ? '1em' : String(size);
  return (
    <svg
      class="icon"
      data-icon={name}
      viewBox="0 0 24 24"
      width={dimension}
      height={dimension}
      {...(x === undefined ? {} : { x })}
      {...(y === undefined ? {} : { y })}
      fill="none"
      stroke="currentColor"
      stroke-width="2"
      stroke-linecap="round"
      stroke-linejoin="round"
      {...(label === undefined ? { 'aria-hidden': 'true' } : { role: 'img', 'aria-label': label })}
    >
      {label !== undefined && <title>{label}</title>}
      {drawings[name]}
    </svg>
  );
}
