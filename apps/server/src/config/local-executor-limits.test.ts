// The server config's `executor.limits` are written out rather than imported from @cairn/local (the
// config is parsed before any seam's package is loaded): this keeps them the local executor's own,
// name for name and bound for bound, so a value the config takes is never refused at construction.
import { localExecutorSettingsSchema } from '@cairn/local';
import { expect, test } from 'vitest';
import { executorConfigSchema } from './executor-config-schema.ts';

const configLimits = (limits: Record<string, unknown>) => executorConfigSchema.safeParse({ kind: 'local', limits }).success;
const executorLimits = (limits: Record<string, unknown>) => localExecutorSettingsSchema.shape.limits.safeParse(limits).success;

test("executor.limits in the server config take exactly what the local executor's limits of the same names take", () => {
  const names = ['memoryBytes', 'workspaceBytes', 'tmpBytes'];
  const executorNames = Object.keys(localExecutorSettingsSchema.shape.limits.parse({}));
  expect(executorNames).toEqual(expect.arrayContaining(names));
  expect(configLimits({ unknownLimit: 1 })).toBe(false);
  for (const name of names) {
    // Around every bound either schema has, and values no byte count is.
    const probes = [16_777_216, 67_108_864, 1_048_576, 1_099_511_627_776, 17_592_186_044_416, 4_294_967_296]
      .flatMap((bound) => [bound - 1, bound, bound + 1])
      .concat([0, -1, 1.5, Number.MAX_SAFE_INTEGER]);
    for (const value of probes) expect([name, value, configLimits({ [name]: value })]).toEqual([name, value, executorLimits({ [name]: value })]);
  }
});

test("executor.snapshotCache in the server config takes exactly what the local executor's snapshotCache takes", () => {
  const configCache = (cache: Record<string, unknown>) => executorConfigSchema.safeParse({ kind: 'local', snapshotCache: cache }).success;
  const executorCache = (cache: Record<string, unknown>) => localExecutorSettingsSchema.shape.snapshotCache.safeParse(cache).success;
  const probes: Record<string, unknown>[] = [
    {},
    { enabled: false },
    { enabled: 'yes' },
    { maxBytes: 0 },
    { maxBytes: -1 },
    { maxBytes: 1.5 },
    { maxBytes: 10_737_418_240 },
    { maxAgeHours: 0 },
    { maxAgeHours: 0.5 },
    { maxAgeHours: -1 },
    { checkEverySeconds: 0 },
    { checkEverySeconds: -1 },
    { checkEverySeconds: 2.5 },
    { unknown: 1 },
  ];
  for (const cache of probes) expect([cache, configCache(cache)]).toEqual([cache, executorCache(cache)]);
});
