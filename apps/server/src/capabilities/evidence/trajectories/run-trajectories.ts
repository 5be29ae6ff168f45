import type { AuditEntry, Digest, ModelCallData } from '@cairn/core';
import type { EngineService } from '@cairn/engine';
import { blobKey, CairnError, digestOfJson, modelCallDataSchema } from '@cairn/protocol';
import { requireRun } from '../../../http/require-run.ts';
import { buildAtifTrajectory, type AtifTrajectory, type RecordedModelCall } from './atif-trajectory.ts';

/** One agent attempt's trajectory and the digest of its canonical JSON (RFC 8785). */
export interface AttemptTrajectory {
  readonly itemId: string;
  readonly attempt: number;
  readonly digest: Digest;
  readonly trajectory: AtifTrajectory;
}

type Reads = Pick<EngineService, 'run' | 'items' | 'spec' | 'attempts' | 'auditEntries'>;

/**
 * The ATIF trajectories of a run's agent attempts (of one item when `itemId` is given), built
 * from the run's `model.called` entries and the bodies they name in storage, in item order then
 * attempt order. An unknown run is CAIRN_NOT_FOUND at `runId`; an unknown item CAIRN_NOT_FOUND at
 * `item`; an item whose runtime is not an agent CAIRN_PAYLOAD_INVALID at `item`.
 */
export async function runTrajectories(
  service: Reads,
  storage: { get(key: string): Promise<Uint8Array | null> },
  runId: string,
  itemId?: string,
): Promise<AttemptTrajectory[]> {
  const run = await requireRun(service, runId);
  const [items, spec] = await Promise.all([service.items(run.runId), service.spec(run.runId)]);
  const runtimes = new Map((spec?.items ?? []).map((item) => [item.id, item.runtime]));
  if (itemId !== undefined) {
    if (!items.some((item) => item.itemId === itemId))
      throw new CairnError('CAIRN_NOT_FOUND', `Run ${runId} has no item ${JSON.stringify(itemId)}: name one of its items (cairn status ${runId}).`, {
        path: 'item',
      });
    const runtime = runtimes.get(itemId);
    if (runtime !== undefined && runtime.kind !== 'agent')
      throw new CairnError(
        'CAIRN_PAYLOAD_INVALID',
        `Item ${itemId} of run ${runId} runs a ${runtime.kind}, not an agent: only an agent's attempts have trajectories. Name an agent item, or leave item out for all of them.`,
        { path: 'item' },
      );
  }

  const calls = new Map<string, RecordedModelCall[]>();
  for await (const entry of service.auditEntries({ runId: run.runId, action: 'model.called' })) {
    const data = modelCallDataOf(entry);
    if (data === undefined || (itemId !== undefined && data.itemId !== itemId)) continue;
    const key = `${data.itemId}\0${data.attempt}`;
    const [request, response] = await Promise.all([
      storage.get(blobKey(data.request)),
      data.response === undefined ? null : storage.get(blobKey(data.response)),
    ]);
    calls.set(key, [...(calls.get(key) ?? []), { seq: entry.seq, time: entry.time, data, request, response }]);
  }

  // Agent items in the run's order: those the spec declares and those that grew into it and called a model.
  const agentItems = items.filter(
    (item) =>
      (itemId === undefined || item.itemId === itemId) &&
      (runtimes.get(item.itemId)?.kind === 'agent' || [...calls.keys()].some((key) => key.startsWith(`${item.itemId}\0`))),
  );
  const trajectories: AttemptTrajectory[] = [];
  for (const item of agentItems) {
    const runtime = runtimes.get(item.itemId);
    const attempts = await service.attempts(run.runId, item.itemId);
    const numbers = new Set([
      ...attempts.map((attempt) => attempt.attempt),
      ...[...calls.keys()].filter((key) => key.startsWith(`${item.itemId}\0`)).map((key) => Number(key.split('\0')[1])),
    ]);
    for (const attempt of [...numbers].sort((a, b) => a - b)) {
      const trajectory = buildAtifTrajectory({
        sessionId: attempts.find((record) => record.attempt === attempt)?.executionId ?? `${run.runId}/${item.itemId}/${attempt}`,
        agentName: runtime?.kind === 'agent' ? runtime.adapter : 'unrecorded',
        ...(runtime?.kind === 'agent' && runtime.model !== undefined ? { model: runtime.model } : {}),
        calls: calls.get(`${item.itemId}\0${attempt}`) ?? [],
      });
      trajectories.push({ itemId: item.itemId, attempt, digest: digestOfJson(trajectory), trajectory });
    }
  }
  return trajectories;
}

function modelCallDataOf(entry: AuditEntry): ModelCallData | undefined {
  const parsed = modelCallDataSchema.safeParse(entry.data);
  return parsed.success ? (parsed.data as ModelCallData) : undefined;
}
