// triggers.linear and triggers.slack in the server config: every problem is a config error naming
// the option, reported together at load, before anything serves.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCairnError, type CairnError } from '@cairn/protocol';
import { afterEach, expect, test } from 'vitest';
import { loadServerConfig } from '../../config/load-server-config.ts';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function refusal(config: string): CairnError {
  const directory = mkdtempSync(join(tmpdir(), 'cairn-linear-slack-config-'));
  directories.push(directory);
  writeFileSync(join(directory, 'cairn.config.yaml'), ['dataDirectory: ./data', 'templates:', '  fix: { spec: ./fix.yaml }', config, ''].join('\n'));
  try {
    loadServerConfig({ directory, env: {} });
  } catch (error) {
    if (isCairnError(error)) return error;
    throw error;
  }
  throw new Error('not refused');
}

test('templates that templates: lacks are named by the option of each, all at once', () => {
  const error = refusal(
    [
      'triggers:',
      '  linear: { secret: LINEAR_HOOK, tokenSecret: LINEAR_KEY, labels: { cairn: fixx }, assignees: { 9cfb482a-81e3-4154-b5b9-2c805e70a02d: fix } }',
      "  slack: { signingSecret: SLACK_SIGNING, tokenSecret: SLACK_BOT, commands: { '/cairn': ask }, mention: answer }",
    ].join('\n'),
  );
  expect(error.code).toBe('CAIRN_CONFIG_INVALID');
  expect(error.issues.map((issue) => issue.path).sort()).toEqual([
    'config.triggers.linear.labels.cairn',
    'config.triggers.slack.commands./cairn',
    'config.triggers.slack.mention',
  ]);
  expect(error.issues.find((issue) => issue.path === 'config.triggers.slack.mention')?.message).toContain(
    'names the template "answer", which templates: does not have (it has fix)',
  );
});

test('a secret written in place of its name, a command without its slash, a user that is not an id, or nothing to run is refused at its option', () => {
  const error = refusal(
    [
      'triggers:',
      '  linear: { secret: "lin_wh_5c2b0f7e-8d91", tokenSecret: LINEAR_KEY, assignees: { ada: fix } }',
      '  slack: { signingSecret: SLACK_SIGNING, tokenSecret: "xoxb-1765-1987-pdFZ", commands: { cairn: fix } }',
    ].join('\n'),
  );
  const byPath = new Map(error.issues.map((issue) => [issue.path, issue.message]));
  expect(byPath.get('config.triggers.linear.secret')).toContain('must name a secret of the server');
  expect(byPath.get('config.triggers.slack.tokenSecret')).toContain('never the value itself');
  expect(byPath.get('config.triggers.linear.assignees.ada')).toContain("must be a Linear user's id");
  expect(byPath.get('config.triggers.slack.commands.cairn')).toContain('must be a slash command');

  const idle = refusal(
    ['triggers:', '  slack: { signingSecret: SLACK_SIGNING, tokenSecret: SLACK_BOT }', '  linear: { secret: H, tokenSecret: K }'].join('\n'),
  );
  expect(new Map(idle.issues.map((issue) => [issue.path, issue.message]))).toEqual(
    new Map([
      ['config.triggers.slack.commands', expect.stringContaining('must name a template for at least one slash command or for mentions')],
      ['config.triggers.linear.labels', expect.stringContaining('must list at least one label or assignee')],
    ]),
  );
});
