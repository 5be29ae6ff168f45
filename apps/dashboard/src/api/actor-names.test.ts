import { expect, test } from 'vitest';
import { actorLabel } from './actor-names.ts';

test('a token shows by its name, an OIDC person by their subject, anything else as it is', () => {
  const names = new Map([['token:9f73ab', 'ana']]);
  expect(actorLabel('token:9f73ab', names)).toBe('ana');
  expect(actorLabel('token:0000', names)).toBe('token:0000');
  expect(actorLabel('http://127.0.0.1:4000#dee', names)).toBe('dee');
  expect(actorLabel('https://accounts.example.com/realms/x#b7c2-41', names)).toBe('b7c2-41');
  expect(actorLabel('engine', names)).toBe('engine');
  expect(actorLabel('schedule:nightly', names)).toBe('schedule:nightly');
});
