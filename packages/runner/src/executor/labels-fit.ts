/** Whether a runner with `runnerLabels` may take an item that asks for `wanted`: every wanted label is the runner's. */
export function labelsFit(wanted: readonly string[], runnerLabels: ReadonlySet<string>): boolean {
  return wanted.every((label) => runnerLabels.has(label));
}
