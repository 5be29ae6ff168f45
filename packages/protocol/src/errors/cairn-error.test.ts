import { describe, expect, test } from 'vitest';
import { CairnError, errorCatalogue, isCairnError } from '../index.ts';

describe('CairnError', () => {
  test('carries code, path, issues, the catalogue action and HTTP status', () => {
    const error = new CairnError('CAIRN_RUN_SPEC_INVALID', 'The run spec has 1 problem.', {
      path: '$.items[0].id',
      issues: [{ code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].id', message: 'is required' }],
    });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('CairnError');
    expect(error.status).toBe(400);
    expect(error.action).toBe(errorCatalogue.CAIRN_RUN_SPEC_INVALID.action);
    expect(error.toJSON()).toEqual({
      code: 'CAIRN_RUN_SPEC_INVALID',
      message: 'The run spec has 1 problem.',
      action: errorCatalogue.CAIRN_RUN_SPEC_INVALID.action,
      path: '$.items[0].id',
      issues: [{ code: 'CAIRN_RUN_SPEC_INVALID', path: '$.items[0].id', message: 'is required' }],
    });
  });

  test('isCairnError recognises errors by brand, optionally by code', () => {
    const error = new CairnError('CAIRN_NOT_FOUND', 'Run r1 does not exist.');
    expect(isCairnError(error)).toBe(true);
    expect(isCairnError(error, 'CAIRN_NOT_FOUND')).toBe(true);
    expect(isCairnError(error, 'CAIRN_FORBIDDEN')).toBe(false);
    expect(isCairnError(new Error('x'))).toBe(false);
    expect(isCairnError({ code: 'CAIRN_NOT_FOUND' })).toBe(false);
    expect(isCairnError(null)).toBe(false);
  });

  test('says what to do: its own advice where it was given one, else the catalogue entry of its code', () => {
    const advised = new CairnError('CAIRN_PAYLOAD_INVALID', 'Two keys.', { action: 'Send one key.' });
    expect(advised.action).toBe('Send one key.');
    expect(advised.toJSON().action).toBe('Send one key.');
    expect(new CairnError('CAIRN_PAYLOAD_INVALID', 'x').action).toBe(errorCatalogue.CAIRN_PAYLOAD_INVALID.action);
  });

  test('keeps the cause', () => {
    const cause = new Error('ENOENT');
    expect(new CairnError('CAIRN_STORAGE_UNAVAILABLE', 'x', { cause }).cause).toBe(cause);
  });
});
