// The model gateway's overhead (ADR 0033): the same scripted Chat Completions endpoint called
// directly and through the gateway, in one run, interleaved, by a child of its own
// (apps/server/src/capabilities/gateway/gateway-overhead-child.test-support.ts). The gateway does everything it
// does for a real attempt (credential check, body read, metering, pricing, both bodies stored by
// digest in a local storage provider, flushed after the answer, ADR 0059) except the engine's
// append, which a stand-in records. A third way, interleaved with the two, is a gateway whose
// storage flushes each put before it resolves (the bodies flushed before the answer ends, as before
// ADR 0059, and as on a storage whose every put is durable).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { childNodeArgv, lastJsonLine } from './child-node.ts';
import { atMost, recorded, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

const calls = 400;
const streams = 200;

interface GatewayOverhead {
  readonly directMs: number;
  readonly throughMs: number;
  readonly flushedMs: number;
  readonly firstDirectMs: number;
  readonly firstThroughMs: number;
  readonly failedStreams: number;
}

export default async function gatewayBenchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  log(`  ${calls} calls each of three ways, interleaved; then ${streams} concurrent streams through the gateway`);
  const [command, ...args] = childNodeArgv([], '../apps/server/src/capabilities/gateway/gateway-overhead-child.test-support.ts', [
    String(calls),
    String(streams),
  ]);
  const { stdout } = await promisify(execFile)(command!, args, { maxBuffer: 1 << 20 });
  const measured = lastJsonLine<GatewayOverhead>(stdout);
  const round = (value: number) => Math.round(value * 100) / 100;
  return [
    recorded('gateway: a call direct to the endpoint, p50', round(measured.directMs), 'ms'),
    recorded('gateway: the same call through the gateway, p50', round(measured.throughMs), 'ms'),
    atMost('gateway: added per call, p50', round(measured.throughMs - measured.directMs), 'ms', 2),
    recorded(
      'gateway: added per call, bodies flushed before the answer ends (storage without deferFlush), p50',
      round(measured.flushedMs - measured.directMs),
      'ms',
    ),
    atMost('gateway: added to the first streamed bytes, p50', round(measured.firstThroughMs - measured.firstDirectMs), 'ms', 5),
    atMost(`gateway: ${streams} concurrent streams, failed`, measured.failedStreams, 'calls', 0),
  ];
}
