/** Bounds of a poll (ADR 0050): what one runner may say it has, and how long a poll may wait. */
export const runnerPollLimits = {
  /** Free slots a runner may offer at once; also bounds what it may hold, and the exits it reports at once. */
  slots: 1_024,
  /** The longest a poll waits for work before it is answered empty. */
  waitMs: 25_000,
} as const;
