import { dollars } from '@cairn/protocol/format';
import { useId } from 'preact/hooks';
import { useElementWidth } from '../use-element-width.ts';
import { durationText } from '../time-format.tsx';

/** One thing drawn: where it starts on the time axis, how long it took, what its model calls spent. */
export interface TimedBar {
  readonly id: string;
  readonly label: string;
  /** When it started (ms since the epoch): its place on the time axis. */
  readonly start: number;
  readonly durationMs: number;
  /** Dollars its model calls spent; null when the API says nothing (no gateway call, or not read yet). */
  readonly spendUsd: number | null;
  /** Its lifecycle state: the bar's colour (always written out too, in the table). */
  readonly state: string;
  /** Still going: its duration is so far. */
  readonly live?: boolean;
}

/** Height of each panel's plot (px), the gap under it for its labels, and a bar's widest. */
const plotHeight = 56;
const labelBand = 18;
const widestBar = 14;

/**
 * Duration and spend over time as two bar panels that share one time axis: each bar stands at its
 * start, as tall as its share of the panel's largest value. Plain SVG, as wide as its box (so it
 * never pushes the page sideways), with a title and description for assistive technology and the
 * same figures as a table a click away. Bars are coloured by state, which the table also writes.
 */
export function SpendDurationChart({
  title,
  bars,
  timeLabel,
  range,
}: {
  readonly title: string;
  /** The time axis's ends (ms); by default from the first bar's start to the last's. */
  readonly range?: { readonly from: number; readonly to: number };
  readonly bars: readonly TimedBar[];
  /** How a point on the time axis is written (a clock time, or an offset into a run). */
  readonly timeLabel: (time: number) => string;
}) {
  const box = useElementWidth<HTMLDivElement>();
  const id = useId();
  if (bars.length === 0) return null;
  const start = range?.from ?? Math.min(...bars.map((bar) => bar.start));
  const end = Math.max(start + 1_000, range?.to ?? 0, ...bars.map((bar) => bar.start));
  const longest = Math.max(1, ...bars.map((bar) => bar.durationMs));
  const spent = bars.filter((bar) => bar.spendUsd !== null && bar.spendUsd > 0);
  const mostSpent = Math.max(0, ...spent.map((bar) => bar.spendUsd!));
  const width = Math.max(0, box.width);
  const barWidth = Math.max(2, Math.min(widestBar, (width - widestBar) / bars.length - 2));
  const x = (time: number) => ((time - start) / (end - start)) * (width - barWidth);
  const totalSpend = spent.reduce((sum, bar) => sum + bar.spendUsd!, 0);
  const description = `${bars.length} bars from ${timeLabel(start)} to ${timeLabel(end)}; the longest took ${durationText(longest)}; ${
    spent.length === 0 ? 'no model spend' : `${dollars(totalSpend)} spent on models, at most ${dollars(mostSpent)} by one`
  }.`;
  const panel = (kind: 'duration' | 'spend', top: number) => (
    <g class={`chart-panel chart-${kind}`} transform={`translate(0 ${top})`}>
      <line class="chart-baseline" x1={0} x2={width} y1={plotHeight} y2={plotHeight} />
      <text class="chart-axis-label" x={0} y={plotHeight + 13}>
        {kind === 'duration' ? `Duration (longest ${durationText(longest)})` : spent.length === 0 ? 'Spend: none' : `Spend (most ${dollars(mostSpent)})`}
      </text>
      {bars.map((bar) => {
        const value = kind === 'duration' ? bar.durationMs / longest : mostSpent === 0 || bar.spendUsd === null ? 0 : bar.spendUsd / mostSpent;
        const height = value === 0 ? 0 : Math.max(2, value * plotHeight);
        return (
          <rect
            key={bar.id}
            class={`chart-bar state-${bar.state}${bar.live === true ? ' live' : ''}`}
            data-bar-id={bar.id}
            x={x(bar.start)}
            y={plotHeight - height}
            width={barWidth}
            height={height}
          >
            <title>{`${bar.label}: ${kind === 'duration' ? durationText(bar.durationMs) : bar.spendUsd === null ? 'no spend' : dollars(bar.spendUsd)}`}</title>
          </rect>
        );
      })}
    </g>
  );
  const height = 2 * (plotHeight + labelBand) + 8;
  return (
    <figure class="spend-duration-chart" aria-labelledby={`${id}-caption`}>
      <figcaption id={`${id}-caption`}>{title}</figcaption>
      <div class="chart-box" ref={box.ref}>
        {width > 0 && (
          <svg width={width} height={height} role="img" aria-labelledby={`${id}-title ${id}-description`}>
            <title id={`${id}-title`}>{title}</title>
            <desc id={`${id}-description`}>{description}</desc>
            {panel('duration', 0)}
            {panel('spend', plotHeight + labelBand + 8)}
          </svg>
        )}
      </div>
      <p class="chart-range hint">
        <span>{timeLabel(start)}</span>
        <span>{timeLabel(end)}</span>
      </p>
      <details class="chart-table">
        <summary>As a table</summary>
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col">Spend</th>
            </tr>
          </thead>
          <tbody>
            {bars.map((bar) => (
              <tr key={bar.id} data-bar-id={bar.id}>
                <td>{bar.label}</td>
                <td>{bar.state}</td>
                <td>{timeLabel(bar.start)}</td>
                <td>
                  {durationText(bar.durationMs)}
                  {bar.live === true ? ' so far' : ''}
                </td>
                <td>{bar.spendUsd === null ? '—' : dollars(bar.spendUsd)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}
