import { z } from 'zod';

/**
 * `runners`: whether this server offers the `runners` executor (ADR 0050), to which `cairn runner`
 * daemons on other hosts dial out with a `runners:run` token and take leased attempts. Off by
 * default: a server without runners answers no runner route.
 */
export const runnersConfigSchema = z.strictObject({
  enabled: z.boolean({ error: 'must be true or false' }).default(false),
  /** A runner that has not polled for this long loses its attempts (recorded lost, run again). */
  leaseSeconds: z.int('must be a whole number of seconds').min(5, 'must be at least 5').max(600, 'must be at most 600').default(30),
});
