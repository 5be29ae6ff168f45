import { createInMemoryCipher } from '@cairn/conformance/mocks';
import type { AuditActor, EvidenceBundleV1 } from '@cairn/core';
import { parsePayload } from '@cairn/protocol';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Engine } from '../engine.ts';
import { engineHarness } from '../engine.test-support.ts';
import type { ScheduleRecord } from '../schedules/schedule-book.ts';
import type { SecretRecord } from '../secrets/secret-store.ts';
import type { SubmitResult } from '../state/run-state-machine.ts';
import type { OpenSealed } from './commands/engine-command.ts';
import { jsonValueOf } from './commands/json-value-of.ts';
import {
  carryOutCommand,
  commandAnswerJson,
  engineCommandKinds,
  engineCommands,
  isEngineCommandKind,
  sealedSecretContext,
  type EngineCommandActors,
  type EngineCommandKind,
  type EngineCommandPayloads,
  type EngineCommandResults,
} from './engine-commands.ts';

const ana: AuditActor = { kind: 'user', id: 'ana', via: 'cli' };
const command = (...argv: string[]) => ({ kind: 'command' as const, argv });

/** What the command's sender's side would see of `value` after its trip through `engine_commands`. */
const throughJson = (value: unknown): unknown => JSON.parse(JSON.stringify(jsonValueOf(value, 'the value under test')));

/** An engine that fails the test if the command touches it: the payload is refused before anything is carried out. */
const untouchable = new Proxy({} as Engine, {
  get: (_target, property) => expect.unreachable(`the engine was asked for ${String(property)}`),
});
const neverOpened: OpenSealed = () => expect.unreachable('a sealed value was opened');

/** For each command, a payload of the wrong shape and where it is wrong. */
const malformed: { readonly [Kind in EngineCommandKind]: { readonly payload: unknown; readonly path: string } } = {
  submit: { payload: { document: { version: 1 }, options: { idempotencyKey: 7 } }, path: '$.options.idempotencyKey' },
  approve: { payload: { runId: 'r1', itemId: ['a'] }, path: '$.itemId' },
  reject: { payload: { runId: 'r1', itemId: 'a', reason: { text: 'no' } }, path: '$.reason' },
  'raise-budget': { payload: { runId: 'r1', budget: { usd: 0 }, reason: 'more' }, path: '$.budget.usd' },
  'lapse-approvals': { payload: { principal: 'ana' }, path: '$.reason' },
  'cancel-run': { payload: { reason: 'stop' }, path: '$.runId' },
  'cancel-item': { payload: { runId: 'r1', itemId: 'a', force: true }, path: '$' },
  'add-schedule': { payload: { definition: { scheduleId: 'nightly', cron: '0 3 * * *', spec: {}, catchUp: 'all' } }, path: '$.definition.catchUp' },
  'remove-schedule': { payload: { scheduleId: null }, path: '$.scheduleId' },
  'set-secret': { payload: { name: 'API_TOKEN', sealed: 'hunter2' }, path: '$.sealed' },
  'remove-secret': { payload: 'API_TOKEN', path: '$' },
  'host-audit': { payload: {}, path: '$.record' },
  'export-bundle': { payload: { runId: 42 }, path: '$.runId' },
};

describe('engine commands', () => {
  it('are the table: every kind has an entry, and no other name is one', () => {
    expect([...engineCommandKinds].sort()).toEqual(Object.keys(engineCommands).sort());
    expect(engineCommandKinds).toContain('cancel-run');
    expect(isEngineCommandKind('export-bundle')).toBe(true);
    expect(isEngineCommandKind('launch-missiles')).toBe(false);
    expect(isEngineCommandKind('toString')).toBe(false);
  });

  it('type what they carry and answer from their schemas', () => {
    expectTypeOf<EngineCommandPayloads['approve']>().toEqualTypeOf<{
      runId: string;
      itemId: string;
      reason?: string;
      voter?: {
        roles: string[];
        groups: string[];
        principal?: string;
        submitterPrincipal?: string;
        lapsed?: { principal: string; reason: string }[];
      };
    }>();
    expectTypeOf<EngineCommandActors['cancel-run']>().toEqualTypeOf<AuditActor>();
    expectTypeOf<EngineCommandActors['submit']>().toEqualTypeOf<AuditActor>();
    expectTypeOf<EngineCommandActors['export-bundle']>().toEqualTypeOf<null>();
    expectTypeOf<EngineCommandResults['submit']>().toEqualTypeOf<SubmitResult>();
    expectTypeOf<EngineCommandResults['add-schedule']>().toEqualTypeOf<ScheduleRecord>();
    expectTypeOf<EngineCommandResults['set-secret']>().toEqualTypeOf<SecretRecord>();
    expectTypeOf<EngineCommandResults['export-bundle']>().toEqualTypeOf<EvidenceBundleV1>();
    expectTypeOf<EngineCommandResults['approve']>().toEqualTypeOf<void>();
  });

  it('refuse a malformed payload on arrival, naming the command and the JSON path, before the engine is touched', async () => {
    expect(Object.keys(malformed).sort()).toEqual([...engineCommandKinds].sort());
    for (const kind of engineCommandKinds) {
      const { payload, path } = malformed[kind];
      await expect(carryOutCommand(untouchable, { kind, payload, actor: ana }, neverOpened), kind).rejects.toMatchObject({
        code: 'CAIRN_PAYLOAD_INVALID',
        path,
        message: expect.stringContaining(`The ${kind} command's payload is not valid: ${path} `),
      });
    }
  });

  it('refuse a command that changes something sent without an actor, and one that changes nothing sent with one', async () => {
    await expect(carryOutCommand(untouchable, { kind: 'cancel-run', payload: { runId: 'r1' }, actor: null }, neverOpened)).rejects.toMatchObject({
      code: 'CAIRN_PAYLOAD_INVALID',
      path: '$',
      message: "The cancel-run command's actor is not valid: $ is missing: every command that changes something is audited as someone's.",
    });
    const impostor = { kind: 'user', id: 'ana', via: 'carrier-pigeon' };
    await expect(carryOutCommand(untouchable, { kind: 'approve', payload: { runId: 'r1', itemId: 'a' }, actor: impostor }, neverOpened)).rejects.toMatchObject({
      code: 'CAIRN_PAYLOAD_INVALID',
      path: '$.via',
    });
    await expect(carryOutCommand(untouchable, { kind: 'export-bundle', payload: { runId: 'r1' }, actor: ana }, neverOpened)).rejects.toMatchObject({
      code: 'CAIRN_PAYLOAD_INVALID',
      message: expect.stringContaining("The export-bundle command's actor"),
    });
  });

  it('cross JSON both ways unchanged: each payload arrives, and each result returns, as the same typed value', async () => {
    const { engineWith } = engineHarness();
    const cipher = createInMemoryCipher();
    const { engine } = await engineWith({ cipher });
    engine.start();
    const openSealed: OpenSealed = (sealed, context) => cipher.decrypt(sealed, context);
    const travelled = new Set<EngineCommandKind>();

    // Sends a command as a replica would and carries it out as the leader does; both crossings are checked.
    const roundTrip = async <Kind extends EngineCommandKind>(
      kind: Kind,
      payload: EngineCommandPayloads[Kind],
      actor: EngineCommandActors[Kind],
    ): Promise<EngineCommandResults[Kind]> => {
      const { payload: payloadSchema, actor: actorSchema, result: resultSchema, apply } = engineCommands[kind];
      expect(parsePayload(payloadSchema, throughJson(payload), kind), kind).toStrictEqual(payload);
      expect(parsePayload(actorSchema, throughJson(actor), kind), kind).toStrictEqual(actor);
      const result = await apply(engine, payload, actor, openSealed);
      const answered = parsePayload(resultSchema, JSON.parse(JSON.stringify(commandAnswerJson(kind, result))), kind);
      expect(answered, kind).toStrictEqual(result);
      travelled.add(kind);
      return answered;
    };

    const gated = {
      version: 1,
      name: 'gated',
      items: [
        { id: 'review', approval: 'required', runtime: command('true') },
        { id: 'hold', approval: 'required', runtime: command('true') },
        { id: 'later', approval: 'required', runtime: command('true') },
      ],
    };
    const { runId } = await roundTrip('submit', { document: gated, options: { idempotencyKey: 'gated-1', secretGrants: ['API_TOKEN'] } }, ana);
    await roundTrip('approve', { runId, itemId: 'review', reason: 'read the plan' }, ana);
    await roundTrip('reject', { runId, itemId: 'hold' }, ana);
    await roundTrip('cancel-item', { runId, itemId: 'later', reason: 'not this one' }, ana);
    expect(await roundTrip('lapse-approvals', { principal: 'bo', reason: 'access revoked at 2026-11-28T00:00:00.000Z' }, ana)).toBe(0);
    const other = await roundTrip(
      'submit',
      { document: { version: 1, name: 'other', items: [{ id: 'a', runtime: command('sleep', '20000') }] }, options: {} },
      ana,
    );
    await roundTrip('raise-budget', { runId: other.runId, budget: { usd: 2.5, tokens: 40_000 }, reason: 'worth it' }, ana);
    await roundTrip('cancel-run', { runId: other.runId }, ana);

    const spec = { version: 1, name: 'nightly', items: [{ id: 'a', runtime: command('true') }] };
    const schedule = await roundTrip(
      'add-schedule',
      { definition: { scheduleId: 'nightly', cron: '0 3 * * *', spec, catchUp: { all: 2 }, overlap: 'allow' } },
      ana,
    );
    expect(schedule).toMatchObject({ scheduleId: 'nightly', catchUp: { all: 2 }, lastRunId: null });
    await roundTrip('remove-schedule', { scheduleId: 'nightly' }, ana);

    const sealed = await cipher.encrypt(new TextEncoder().encode('hunter2'), sealedSecretContext('API_TOKEN'));
    expect(await roundTrip('set-secret', { name: 'API_TOKEN', sealed }, ana)).toMatchObject({ name: 'API_TOKEN', version: 1 });
    await roundTrip('remove-secret', { name: 'API_TOKEN' }, ana);
    const record = { action: 'webhook.created', actor: ana, webhookId: 'wh_1', origin: 'https://hooks.example', events: ['run.state'], runId };
    await roundTrip('host-audit', { record }, ana);

    await engine.waitForRun(runId);
    const bundle = await roundTrip('export-bundle', { runId }, null);
    expect(bundle.entries.map((entry) => entry.action)).toContain('item.rejected');

    expect([...travelled].sort()).toEqual([...engineCommandKinds].sort());
  });
});
