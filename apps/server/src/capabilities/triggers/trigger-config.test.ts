import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCairnError } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { loadServerConfig } from '../../config/load-server-config.ts';
import { RunTemplates } from './run-templates.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function folder(files: Record<string, string>): string {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-templates-'));
  directories.push(directory);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(directory, name), text);
  return directory;
}

function refusal(run: () => unknown) {
  try {
    run();
  } catch (error) {
    if (isCairnError(error)) return error;
    throw error;
  }
  throw new Error('not refused');
}

test('a trigger naming a template the config lacks, and a template using an undeclared placeholder, are config errors naming them', () => {
  const config = [
    'dataDirectory: ./data',
    'templates:',
    '  fix-issue: { spec: ./fix.yaml, parameters: { issue.title: {} } }',
    'triggers:',
    "  github: { secret: HOOK, tokenSecret: GH, repositories: [acme/api], labels: { 'cairn:fix': fix-issue, 'cairn:deploy': deploy }, commandTemplates: [fixx] }",
    '',
  ].join('\n');
  const error = refusal(() => loadServerConfig({ directory: folder({ 'cairn.config.yaml': config }), env: {} }));
  expect(error).toMatchObject({ code: 'CAIRN_CONFIG_INVALID' });
  expect(error.issues.map((issue) => issue.path).sort()).toEqual(['config.triggers.github.commandTemplates.0', 'config.triggers.github.labels.cairn:deploy']);
  expect(error.issues[0]!.message).toContain('it has fix-issue');

  const directory = folder({
    'fix.yaml': 'version: 1\nname: "{{ issue.title }} {{ isue.body }}"\nitems: [{ id: a, runtime: { kind: command, argv: [/bin/true] } }]\n',
  });
  const undeclared = refusal(() => RunTemplates.load({ fix: { spec: './fix.yaml', parameters: { 'issue.title': {} }, triggerSecrets: [] } }, directory));
  expect(undeclared).toMatchObject({
    code: 'CAIRN_CONFIG_INVALID',
    path: 'config.templates.fix.parameters',
    message: expect.stringContaining('{{ isue.body }}'),
  });
});

test('the template and config of docs/guides/from-an-issue-to-a-run.md load as written, and its refusal is the one shown', () => {
  const page = readFileSync(join(import.meta.dirname, '..', '..', '..', '..', '..', 'docs', 'guides', 'from-an-issue-to-a-run.md'), 'utf8');
  const block = (title: string) => new RegExp(`^\`\`\`\\w+ title="${title.replace(/[()]/g, '\\$&')}"\\n([\\s\\S]*?)^\`\`\``, 'm').exec(page)?.[1];
  const template = block('templates/fix-issue.yaml');
  const sections = block('cairn.config.yaml (the sections added)');
  expect([template, sections]).not.toContain(undefined);
  const directory = folder({ 'cairn.config.yaml': `dataDirectory: ./data\n${sections!}` });
  mkdirSync(join(directory, 'templates'));
  writeFileSync(join(directory, 'templates', 'fix-issue.yaml'), template!);
  const loaded = loadServerConfig({ directory, env: {} });
  expect(loaded.config.triggers.github).toMatchObject({ labels: { 'cairn:fix': 'fix-issue' }, command: '/cairn run' });
  const templates = RunTemplates.load(loaded.config.templates, directory);
  const values = { 'issue.number': '1', 'issue.title': '"]\nitems: []', 'issue.html_url': 'https://github.com/acme/app/issues/1', 'sender.login': 'ana' };
  expect((templates.fill('fix-issue', values).document as { items: unknown[] }).items).toEqual([
    { id: 'fix', runtime: { kind: 'command', argv: ['/bin/echo', '"]\nitems: []', ''] } },
  ]);
  const refused = refusal(() => templates.fill('fix-issue', { ...values, 'issue.body': 'a\u0000b' }));
  const shown = /^```text\n([\s\S]*?)^```/m.exec(page)![1]!.split('\n');
  expect(`${refused.code}: ${refused.message}`).toBe(`${shown[0]} ${shown[1]}`);
});

test('a webhook naming a template the config lacks, a parameter its template lacks, or leaving out one it needs, is a config error naming it', () => {
  const config = [
    'dataDirectory: ./data',
    'templates:',
    '  triage: { spec: ./triage.yaml, parameters: { alert.id: {}, alert.title: {}, alert.severity: { default: unknown } } }',
    'triggers:',
    '  webhooks:',
    '    alerts: { secret: ALERTS, template: triage, parameters: { alert.id: /data/id, alert.owner: /data/owner } }',
    '    deploys: { secret: DEPLOYS, template: deploy }',
    "    bad-pointer: { secret: X, template: triage, parameters: { alert.id: data/id, alert.title: '' } }",
    '',
  ].join('\n');
  const error = refusal(() => loadServerConfig({ directory: folder({ 'cairn.config.yaml': config }), env: {} }));
  expect(error).toMatchObject({ code: 'CAIRN_CONFIG_INVALID' });
  // Every problem at once, each at its path.
  expect(error.issues.map((issue) => `${issue.path}: ${issue.message}`).sort()).toEqual([
    'config.triggers.webhooks.alerts.parameters.alert.owner: is not a parameter of the template triage (it takes alert.id, alert.title, alert.severity); declare it under templates.triage.parameters, or remove it here',
    "config.triggers.webhooks.alerts.parameters: must take the template triage's parameter alert.title (it has no default) from the payload: add alert.title: /pointer/to/its/value",
    expect.stringMatching(/^config\.triggers\.webhooks\.bad-pointer\.parameters\.alert\.id: must be a JSON pointer \(RFC 6901\)/),
    expect.stringMatching(/^config\.triggers\.webhooks\.deploys\.template: names the template "deploy", which templates: does not have \(it has triage\)/),
  ]);
});
