import { Ajv2020 } from 'ajv/dist/2020.js';
import { expect, test } from 'vitest';
import { runSpecJsonSchema, runSpecV1Schema } from '../index.ts';
import { sampleSpec } from './run-spec.test-support.ts';

// An independent JSON Schema validator (ajv) is the oracle: the schema a model or an editor reads
// must accept what the zod schema accepts and refuse what it refuses.
const validator = new Ajv2020({ strict: false, allErrors: true }).compile(runSpecJsonSchema());

test('the run spec JSON Schema accepts what runSpecV1Schema accepts, a snapshot digest and namespaced labels included', () => {
  const spec = { ...sampleSpec(), workspace: { snapshot: `sha256:${'a'.repeat(64)}` }, labels: { 'app.example.com/team': 'Zoë <platform>' } };
  expect(runSpecV1Schema.safeParse(spec).success).toBe(true);
  expect(validator(spec), JSON.stringify(validator.errors)).toBe(true);
});

test.each([
  ['an unknown top-level field', { ...sampleSpec(), colour: 'red' }],
  ['an unknown item field', { ...sampleSpec(), items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] }, retries: 3 }] }],
  ['a version other than 1', { ...sampleSpec(), version: 2 }],
  ['no items', { ...sampleSpec(), items: [] }],
  ['a duration with two units', { ...sampleSpec(), defaults: { timeout: '1h30m' } }],
  ['a snapshot that is not a sha256 digest', { ...sampleSpec(), workspace: { snapshot: 'sha256:ABC' } }],
  ['a runtime of an unknown kind', { ...sampleSpec(), items: [{ id: 'a', runtime: { kind: 'shell', argv: ['true'] } }] }],
  ['an empty argv', { ...sampleSpec(), items: [{ id: 'a', runtime: { kind: 'command', argv: [] } }] }],
  ['an item id with a space', { ...sampleSpec(), items: [{ id: 'a b', runtime: { kind: 'command', argv: ['true'] } }] }],
  ['a lock name with markup', { ...sampleSpec(), items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] }, locks: ['<b>db</b>'] }] }],
  ['a lock name with a newline', { ...sampleSpec(), items: [{ id: 'a', runtime: { kind: 'command', argv: ['true'] }, locks: [{ name: 'db\nx' }] }] }],
  ['a label key with a space', { ...sampleSpec(), labels: { 'a b': 'x' } }],
  ['a label value with an escape character', { ...sampleSpec(), labels: { team: 'x\u001b[2J' } }],
])('it refuses %s, as runSpecV1Schema does', (_name, spec) => {
  expect(runSpecV1Schema.safeParse(spec).success).toBe(false);
  expect(validator(spec)).toBe(false);
});

test('it names itself, and says what the main fields mean; each call returns a copy', () => {
  const schema = runSpecJsonSchema() as {
    $id: string;
    $schema: string;
    properties: Record<string, { description?: string; items?: { properties: Record<string, { description?: string }> } }>;
  };
  expect(schema.$id).toBe('cairn://schema/run-spec');
  expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
  expect(schema.properties['items']!.description).toContain('DAG');
  expect(schema.properties['items']!.items!.properties['runtime']!.description).toContain('argv');
  (schema as { title?: string }).title = 'changed';
  expect(runSpecJsonSchema()['title']).toBe('Cairn run spec (cairn.run/v1)');
});
