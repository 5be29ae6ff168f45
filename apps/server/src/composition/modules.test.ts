import { describe, expect, test } from 'vitest';
import { serverModules, startModules } from './modules.ts';
import type { ServerModule } from './server-module.ts';
import { StartedParts } from './started-parts.ts';

interface Context {
  readonly events: string[];
}

/** A module that records its start and close, and may fail to start. */
function recording<Name extends string>(name: Name, options: { readonly fails?: boolean } = {}): ServerModule<Context, Name, string> {
  return {
    name,
    async start({ events }) {
      if (options.fails) throw new Error(`${name} cannot start`);
      events.push(`start ${name}`);
      return `${name} started`;
    },
    close: () => undefined,
  };
}

describe('startModules', () => {
  test('starts the modules in order, answers what each started by name, and the parts close them in reverse', async () => {
    const events: string[] = [];
    const closing = (name: string) => ({ ...recording(name), close: (started: string) => void events.push(`close ${started}`) });
    const parts = new StartedParts();
    const started = await startModules(parts, [closing('first'), { name: 'routes-only' as const }, closing('second')] as const, { events });
    expect(started).toEqual({ first: 'first started', second: 'second started' });
    expect(parts.names).toEqual(['first', 'second']);
    await parts.closeInReverse();
    expect(events).toEqual(['start first', 'start second', 'close second started', 'close first started']);
  });

  test('a module that fails to start closes those started before it, and its error is the one thrown', async () => {
    const events: string[] = [];
    const parts = new StartedParts();
    const first = { ...recording('first'), close: () => void events.push('close first') };
    await expect(startModules(parts, [first, recording('broken', { fails: true }), recording('never')] as const, { events })).rejects.toThrow(
      'broken cannot start',
    );
    expect(events).toEqual(['start first', 'close first']);
    expect(parts.names).toEqual([]);
  });

  test("the server's modules have distinct names, each with routes or something to start", () => {
    const names = serverModules.map((module) => module.name);
    expect(new Set(names).size).toBe(names.length);
    for (const module of serverModules) expect('routes' in module || 'start' in module, module.name).toBe(true);
  });
});
