import type { AuditActor, BudgetSpec } from '@cairn/core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import type { Engine } from '../engine.ts';
import type { EngineService } from '../engine-service.ts';
import { ana, backends, engineHarness } from '../engine.test-support.ts';
import type { ScheduleDefinition, ScheduleRecord } from '../schedules/schedule-book.ts';
import type { SecretRecord } from '../secrets/secret-store.ts';
import type { Voter } from '../state/approval-votes.ts';
import type { SubmitOptions, SubmitResult } from '../state/run-state-machine.ts';
import { methodNameOf, type CommandMethods } from './commands/command-methods.ts';
import { serviceCommand } from './commands/engine-command.ts';
import { engineCommandMethods } from './engine-command-methods.ts';
import { engineCommandKinds, serviceCommandKinds, serviceCommands, type EngineCommandMethods, type ServiceCommandKind } from './engine-commands.ts';

/** A command that is not in the table: what declaring one gives every service. */
const pauseTable = {
  'pause-run-for': serviceCommand({
    payload: z.strictObject({ runId: z.string(), minutes: z.number(), reason: z.string().exactOptional() }),
    actor: z.strictObject({ kind: z.literal('user'), id: z.string(), via: z.literal('cli') }),
    result: z.strictObject({ pausedUntil: z.string() }),
    call: (_engine: Engine, runId: string, minutes: number, actor: AuditActor & { kind: 'user'; via: 'cli' }, reason?: string) => ({
      pausedUntil: `${runId} ${minutes} ${actor.id} ${reason ?? ''}`,
    }),
    request: (_seal, runId, minutes, actor, reason) => ({ payload: { runId, minutes, ...(reason === undefined ? {} : { reason }) }, actor }),
    apply: (_engine, { runId, minutes }) => ({ pausedUntil: `${runId} ${minutes}` }),
  }),
};

describe('engine command methods', () => {
  it('are typed from the table: an entry is a method named after its kind, with its call’s arguments and its result', () => {
    expectTypeOf<CommandMethods<typeof pauseTable>>().toEqualTypeOf<{
      readonly pauseRunFor: (
        runId: string,
        minutes: number,
        actor: AuditActor & { kind: 'user'; via: 'cli' },
        reason?: string,
      ) => Promise<{ pausedUntil: string }>;
    }>();
    expect(methodNameOf('pause-run-for')).toBe('pauseRunFor');

    // The service's command methods, as callers (the server, the CLI, the MCP server) use them.
    expectTypeOf<EngineService['submit']>().toEqualTypeOf<(document: unknown, options: SubmitOptions) => Promise<SubmitResult>>();
    expectTypeOf<EngineService['approve']>().toEqualTypeOf<
      (runId: string, itemId: string, actor: AuditActor, reason?: string, voter?: Voter) => Promise<void>
    >();
    expectTypeOf<EngineService['reject']>().toEqualTypeOf<
      (runId: string, itemId: string, actor: AuditActor, reason?: string, voter?: Voter) => Promise<void>
    >();
    expectTypeOf<EngineService['raiseBudget']>().toEqualTypeOf<(runId: string, budget: BudgetSpec, actor: AuditActor, reason: string) => Promise<void>>();
    expectTypeOf<EngineService['cancelRun']>().toEqualTypeOf<(runId: string, actor: AuditActor, reason?: string) => Promise<void>>();
    expectTypeOf<EngineService['cancelItem']>().toEqualTypeOf<(runId: string, itemId: string, actor: AuditActor, reason?: string) => Promise<void>>();
    expectTypeOf<EngineService['addSchedule']>().toEqualTypeOf<(definition: ScheduleDefinition, actor: AuditActor) => Promise<ScheduleRecord>>();
    expectTypeOf<EngineService['removeSchedule']>().toEqualTypeOf<(scheduleId: string, actor: AuditActor) => Promise<void>>();
    expectTypeOf<EngineService['setSecret']>().toEqualTypeOf<(name: string, value: string, actor: AuditActor) => Promise<SecretRecord>>();
    expectTypeOf<EngineService['removeSecret']>().toEqualTypeOf<(name: string, actor: AuditActor) => Promise<void>>();
  });

  it('are made from the table’s kinds: one a kind, under its camelCase name, dispatching that kind with the arguments given', async () => {
    const dispatched: { kind: ServiceCommandKind; args: readonly unknown[] }[] = [];
    const methods = engineCommandMethods(async (kind, args) => {
      dispatched.push({ kind, args });
      throw new Error('the answer is not under test');
    });
    expect(Object.keys(methods)).toEqual(serviceCommandKinds.map(methodNameOf));
    expect(Object.keys(methods)).toContain('raiseBudget');
    // Every command the table declares is a method but those the services send from their own members.
    expect(engineCommandKinds.filter((kind) => !serviceCommandKinds.includes(kind as ServiceCommandKind))).toEqual(['host-audit', 'export-bundle']);

    await expect(methods.cancelRun('r1', ana, 'stop')).rejects.toThrow('the answer is not under test');
    await expect(methods.raiseBudget('r1', { usd: 2 }, ana, 'more')).rejects.toThrow('the answer is not under test');
    expect(dispatched).toEqual([
      { kind: 'cancel-run', args: ['r1', ana, 'stop'] },
      { kind: 'raise-budget', args: ['r1', { usd: 2 }, ana, 'more'] },
    ]);
  });

  it('turn arguments into what a replica sends: optional arguments left out, a secret sealed, a keyed submission resent', async () => {
    const sealed: string[] = [];
    const seal = async (value: Uint8Array, context: Readonly<Record<string, string>>) => {
      sealed.push(`${new TextDecoder().decode(value)} under ${JSON.stringify(context)}`);
      return { version: 1 as const, algorithm: 'test', keyId: 'k', iv: '', ciphertext: 'c2VhbGVk', tag: '' };
    };
    expect(await serviceCommands['cancel-run'].request(seal, 'r1', ana)).toStrictEqual({ payload: { runId: 'r1' }, actor: ana });
    expect(await serviceCommands.approve.request(seal, 'r1', 'a', ana, undefined, { roles: ['lead'] })).toStrictEqual({
      payload: { runId: 'r1', itemId: 'a', voter: { roles: ['lead'], groups: [] } },
      actor: ana,
    });
    const secret = await serviceCommands['set-secret'].request(seal, 'API_TOKEN', 'hunter2', ana);
    expect(JSON.stringify(secret)).not.toContain('hunter2');
    expect(sealed).toEqual(['hunter2 under {"purpose":"cairn-set-secret-command","secret":"API_TOKEN"}']);
    // What the server knows exists stays behind; who submits is the command's actor.
    const submitted = await serviceCommands.submit.request(seal, { version: 1 }, { actor: ana, context: { executors: ['local'] }, idempotencyKey: 'k1' });
    expect(submitted).toStrictEqual({ payload: { document: { version: 1 }, options: { idempotencyKey: 'k1' } }, actor: ana });

    const resend = serviceCommands.submit.resendWhenUnknown;
    expect(resend?.({ document: { version: 1 }, options: { idempotencyKey: 'k1' } })).toBe(true);
    expect(resend?.({ document: { version: 1, idempotencyKey: 'k2' }, options: {} })).toBe(true);
    expect(resend?.({ document: { version: 1 }, options: {} })).toBe(false);
    expect(serviceCommandKinds.filter((kind) => serviceCommands[kind].resendWhenUnknown !== undefined)).toEqual(['submit', 'lapse-approvals']);
  });

  describe.each(backends)('on %s', (backend) => {
    it('are methods of engine.service() that reject, never throw, when the engine refuses', async () => {
      const { engineWith } = engineHarness(backend);
      const { engine } = await engineWith();
      const service = engine.service();
      for (const kind of serviceCommandKinds) expect(typeof service[methodNameOf(kind) as keyof EngineCommandMethods], kind).toBe('function');
      const answer = service.cancelRun('no-such-run', ana, 'stop');
      expect(answer).toBeInstanceOf(Promise);
      await expect(answer).rejects.toMatchObject({ code: 'CAIRN_NOT_FOUND', message: 'Run no-such-run does not exist.' });
    });
  });
});
