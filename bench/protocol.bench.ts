// The run-spec front door: how long validating a large run takes (it happens on every submit,
// before anything is stored), and canonical JSON throughput (every audit entry and digest).
import { canonicalJson, loadRunSpec, validateRunSpec } from '@cairn/protocol';
import { atMost, recorded, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

function wideSpec(items: number) {
  return {
    version: 1,
    name: 'bench',
    items: Array.from({ length: items }, (_, index) => ({
      id: `item-${index}`,
      runtime: { kind: 'command', argv: ['node', 'work.js', String(index)] },
      dependsOn: [...new Set(index === 0 ? [] : [`item-${Math.floor(index / 2)}`, `item-${index - 1}`])],
      locks: [`file:${index % 50}`],
    })),
  };
}

export default async function protocolBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  const spec = wideSpec(10_000);
  const text = JSON.stringify(spec);
  const check = validateRunSpec(spec);
  if (!check.ok) throw new Error(`the benchmark spec is invalid: ${JSON.stringify(check.issues[0])}`);
  log('  validating a 10,000-item run spec');
  const validate = Math.min(...(await Promise.all([0, 1, 2].map(() => timeMilliseconds(() => validateRunSpec(spec))))));
  const load = await timeMilliseconds(() => loadRunSpec(text));

  const entry = {
    seq: 1,
    time: '2026-11-22T10:00:00.000Z',
    actor: { kind: 'token', id: 'tok_1', via: 'http' },
    action: 'attempt.completed',
    entity: { kind: 'attempt', id: 'r1/a/1' },
    outcome: 'success',
    runId: 'r1',
    runSeq: 5,
    data: { exitCode: 0, patch: 'sha256:0123' },
  };
  const count = 200_000;
  const canonical = await timeMilliseconds(() => {
    for (let index = 0; index < count; index++) canonicalJson(entry);
  });
  return [
    atMost('protocol.validate-10000-items', Math.round(validate), 'ms', 500),
    atMost('protocol.load-10000-items-json', Math.round(load), 'ms', 1000),
    recorded('protocol.canonical-json-entries', Math.round(count / (canonical / 1000)), 'entries/s'),
  ];
}
