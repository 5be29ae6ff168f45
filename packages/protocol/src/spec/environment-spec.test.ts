import { describe, expect, test } from 'vitest';
import { validateRunSpec } from '../index.ts';
import { environmentDiskBytes } from './environment-spec-schema.ts';

const specWith = (environment: unknown, where: 'item' | 'defaults' = 'item') => ({
  version: 1,
  name: 'warm',
  ...(where === 'defaults' ? { defaults: { environment } } : {}),
  items: [{ id: 'build', runtime: { kind: 'command', argv: ['npm', 'test'] }, ...(where === 'item' ? { environment } : {}) }],
});
const problems = (document: unknown) => {
  const result = validateRunSpec(document);
  return result.ok ? [] : result.issues.map(({ path, message }) => ({ path, message }));
};

describe('environment in a run spec', () => {
  test('a setup alone, and one with every field, are accepted as written, on an item and as the default', () => {
    const full = { setup: { argv: ['npm', 'ci'] }, key: ['package-lock.json', 'tools/.nvmrc'], timeoutSeconds: 600, diskLimit: '2GiB', base: 'node:24' };
    for (const environment of [{ setup: { argv: ['npm', 'ci'] } }, full, { ...full, diskLimit: 1_073_741_824 }]) {
      expect(validateRunSpec(specWith(environment))).toMatchObject({ ok: true, spec: { items: [{ environment }] } });
      expect(validateRunSpec(specWith(environment, 'defaults'))).toMatchObject({ ok: true, spec: { defaults: { environment } } });
    }
  });

  test('each malformed field is refused at its JSON path, saying what to write', () => {
    expect(problems(specWith({ setup: { argv: [] } }))).toEqual([
      { path: '$.items[0].environment.setup.argv', message: expect.stringContaining('must name the program to run') },
    ]);
    expect(problems(specWith({ setup: { argv: ['npm', 'ci'] }, key: ['ok.lock', '../outside.lock', '/etc/passwd', '.git/config'] }))).toEqual([
      { path: '$.items[0].environment.key[1]', message: expect.stringContaining('has a ".." segment') },
      { path: '$.items[0].environment.key[2]', message: expect.stringContaining('is absolute') },
      { path: '$.items[0].environment.key[3]', message: expect.stringContaining('inside git metadata') },
    ]);
    expect(problems(specWith({ setup: { argv: ['npm', 'ci'] }, key: [] }))).toEqual([
      { path: '$.items[0].environment.key', message: expect.stringContaining('leave key out for the common lockfiles') },
    ]);
    expect(problems(specWith({ setup: { argv: ['npm', 'ci'] }, diskLimit: '2GB' }))).toEqual([
      { path: '$.items[0].environment.diskLimit', message: expect.stringContaining('a size such as "512MiB"') },
    ]);
    expect(problems(specWith({ setup: { argv: ['npm', 'ci'] }, diskLimit: '1MiB' }, 'defaults'))).toEqual([
      { path: '$.defaults.environment.diskLimit', message: expect.stringContaining('from 16MiB to 16TiB') },
    ]);
    expect(problems(specWith({ setup: { argv: ['npm', 'ci'] }, timeoutSeconds: 0 }))[0]).toMatchObject({ path: '$.items[0].environment.timeoutSeconds' });
    expect(problems(specWith({ setup: { argv: ['npm', 'ci'] }, base: 'has space' }))[0]).toMatchObject({ path: '$.items[0].environment.base' });
    expect(problems(specWith({ setup: { argv: ['npm', 'ci'] }, image: 'node' }))[0]).toMatchObject({
      path: '$.items[0].environment.image',
      message: 'is not a field here; remove it or correct its name.',
    });
    expect(problems(specWith({ key: ['package-lock.json'] }))[0]).toMatchObject({ path: '$.items[0].environment.setup' });
  });

  test('a disk limit reads as bytes in binary units', () => {
    expect(environmentDiskBytes('512MiB')).toBe(536_870_912);
    expect(environmentDiskBytes('1.5GiB')).toBe(1_610_612_736);
    expect(environmentDiskBytes(20_000_000)).toBe(20_000_000);
    expect(environmentDiskBytes('2 GB')).toBeUndefined();
  });
});
