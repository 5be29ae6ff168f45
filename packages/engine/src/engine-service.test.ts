import { createInMemoryCipher } from '@cairn/conformance/mocks';
import { expect, test } from 'vitest';
import { describeEngineService } from './engine-service.test-support.ts';
import { engineHarness } from './engine.test-support.ts';

const { engineWith } = engineHarness();

describeEngineService('in process (SQLite)', async () => {
  const { engine } = await engineWith({ cipher: createInMemoryCipher() });
  engine.start();
  return { service: engine.service(), engine };
});

test('an engine has one service, and its audit log is read-only, even at run time', async () => {
  const { engine } = await engineWith();
  expect(engine.service()).toBe(engine.service());
  // What a library user or a host gets of the log cannot append: not the log, not its tree.
  expect('append' in engine.audit).toBe(false);
  expect('append' in engine.audit.merkle).toBe(false);
  expect(Object.isFrozen(engine.audit)).toBe(true);
  // @ts-expect-error -- the public face of the audit log has no append
  expect(() => engine.audit.append({})).toThrow(TypeError);
  // @ts-expect-error -- nor has the host's writer
  expect(() => engine.service().hostAudit.append({})).toThrow(TypeError);
  const { hostAudit } = engine.service();
  const actor = { kind: 'user', id: 'ana', via: 'cli' } as const;
  // @ts-expect-error -- and its methods take no action of their choosing
  void hostAudit.tokenRevoked({ actor, tokenId: 't', name: 'n', action: 'run.submitted' }).catch(() => undefined);
});
