import type { TaskEnvelope } from '@cairn/core';

/**
 * A TaskEnvelope as the runners executor reads it: with the labels the item asked for
 * (`runsOn.labels`), which the engine does not put in the envelope yet. Absent, any runner may take
 * the task.
 */
export interface RunnerTaskEnvelope extends TaskEnvelope {
  readonly labels?: readonly string[];
}
