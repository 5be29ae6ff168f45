import { z } from 'zod';

/** A server secret's name (`cairn secret set NAME`), never its value: what every trigger's secret and token options hold. */
export const secretName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must name a secret of the server (set with `cairn secret set NAME`), never the value itself');
