import { Icon, type IconName } from '../icons.tsx';

/** A check as the page shows it: what was checked, how it came out, and what it found. */
export interface ShownCheck<Name extends string> {
  readonly name: Name;
  readonly status: 'pass' | 'fail' | 'not-checked';
  readonly detail: string;
}

const statusIcons: Readonly<Record<ShownCheck<string>['status'], IconName>> = { pass: 'check', fail: 'x', 'not-checked': 'circle-minus' };

/**
 * The rows of a verification, one a check: its label, its status with its icon, its detail. The
 * evidence view and the delivery panel show their checks alike, so a reader reads both the same way.
 */
export function ChecksTable<Name extends string>({
  checks,
  labels,
}: {
  readonly checks: readonly ShownCheck<Name>[];
  readonly labels: Readonly<Record<Name, string>>;
}) {
  return (
    <table class="checks-table">
      <tbody>
        {checks.map((check) => (
          <tr key={check.name} data-check={check.name} data-status={check.status}>
            <th scope="row">{labels[check.name]}</th>
            <td class={`check-status check-${check.status}`}>
              <Icon name={statusIcons[check.status]} /> {check.status}
            </td>
            <td class="check-detail">{check.detail}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
