import { describe, expect, test } from 'vitest';
import { symlinkEscape } from './symlink-escape.ts';

const escape = (path: string, links: Record<string, string>) => symlinkEscape(path, new Map(Object.entries(links)));

describe('symlinkEscape', () => {
  test.each([
    ['a sibling', 'a/l', { 'a/l': 'b' }],
    ['up and back in', 'a/b/l', { 'a/b/l': '../../c' }],
    ['the workspace root', 'a/l', { 'a/l': '..' }],
    ['dot segments and doubled slashes', 'l', { l: './a//b/.' }],
    ['through another link that stays inside', 'x/l', { 'x/l': 'm/..', 'x/m': 'd/e' }],
    ['a dangling target inside', 'l', { l: 'does/not/exist' }],
  ])('stays inside: %s', (_, path, links) => {
    expect(escape(path, links)).toBeUndefined();
  });

  test.each([
    ['absolute', 'l', { l: '/etc/passwd' }, 'absolute path'],
    ['one level too far up', 'a/l', { 'a/l': '../..' }, 'outside'],
    ['up from the root', 'l', { l: '../x' }, 'outside'],
    ['a chain that escapes only together', 'a/out', { 'a/up': '..', 'a/out': 'up/..' }, 'outside'],
    ['through a link to an absolute path', 'l', { l: 'm/x', m: '/tmp' }, 'absolute path'],
    ['a deleted link turned into a directory name', 'l2', { l2: 'l1/../..' }, 'outside'],
    ['a loop', 'a', { a: 'b', b: 'a' }, 'more than 40 symlinks'],
  ])('escapes: %s', (_, path, links, problem) => {
    expect(escape(path, links)).toContain(problem);
  });

  test('the same name resolves differently when a link in its way changes', () => {
    expect(escape('l2', { l2: 'l1/../..', l1: 'd/e' })).toBeUndefined();
    expect(escape('l2', { l2: 'l1/../..' })).toContain('outside');
  });
});
