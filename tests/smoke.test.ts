import { expect, test } from 'vitest';
import { VERSION } from '@cairn/protocol';
test('source alias resolves', () => { expect(VERSION).toBe('0.1.0'); });
