import { z } from 'zod';

/**
 * A runner label (ADR 0050): lowercase letters, digits and `.`, `_`, `=`, `-`, starting with a
 * letter or digit, at most 63 characters (`linux`, `gpu`, `arch=arm64`). An item's `runsOn.labels`
 * must all be its runner's.
 */
export const runnerLabelPattern = /^[a-z0-9][a-z0-9._=-]{0,62}$/;

export const runnerLabelSchema = z
  .string()
  .regex(
    runnerLabelPattern,
    'must be a runner label: lowercase letters, digits, ".", "_", "=" and "-", starting with a letter or digit, at most 63 characters',
  );

/** At most this many labels on a runner or an item. */
export const runnerLabelLimit = 64;

/** A set of labels: at most `runnerLabelLimit`, each at most once. */
export const runnerLabelsSchema = z
  .array(runnerLabelSchema)
  .max(runnerLabelLimit, `must hold at most ${runnerLabelLimit} labels`)
  .refine((labels) => new Set(labels).size === labels.length, 'must not name a label twice');
