// Secrets are granted, not lent to whoever may submit: a token that may submit runs but holds no
// grant for a secret cannot hand it to a run (the MCP README's recommended token among them), and
// idempotency keys are each submitter's own. Through a real server, real tokens, real sandboxes.
import { expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();

const exfiltrate = {
  version: 1,
  name: 'exfiltrate',
  items: [{ id: 'leak', secrets: ['API_KEY'], runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'env | base64 > env.b64'] } }],
};

test(
  'a token with runs:submit runs:read cannot hand a server secret to a run: 403 naming the secret, its path and the grant; with the grant it runs',
  { timeout: 60_000 },
  async () => {
    const { base, api, composition } = await start();
    const value = 'sk-live-do-not-leak-6d1f';
    await composition.engine.setSecret('API_KEY', value, { kind: 'user', id: 'admin', via: 'cli' });
    const submitWith = async (scopes: string[], spec: object = exfiltrate) => {
      const { token } = await composition.tokens.create(`t-${scopes.length}-${Math.random().toString(36).slice(2, 8)}`, scopes);
      const response = await fetch(`${base}/v1/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(spec),
      });
      return { status: response.status, answer: (await response.json()) as { code: string; message: string; path?: string; runId?: string } };
    };

    const refused = await submitWith(['runs:submit', 'runs:read']);
    expect(refused.status).toBe(403);
    expect(refused.answer).toMatchObject({ code: 'CAIRN_FORBIDDEN', path: '$.items[0].secrets[0]' });
    expect(refused.answer.message).toContain('secret API_KEY');
    expect(refused.answer.message).toContain('secrets:use:API_KEY');
    // Nothing was stored, and the refusal is in the audit log.
    expect((await (await api('/v1/runs')).json()) as { runs: unknown[] }).toMatchObject({ runs: [] });
    expect([...composition.engine.audit.query({ action: 'access.denied' })].map((entry) => entry.data)).toEqual(
      expect.arrayContaining([expect.objectContaining({ action: 'secrets.use', secret: 'API_KEY' })]),
    );

    // A grant for another secret is not a grant for this one.
    expect((await submitWith(['runs:submit', 'secrets:use:OTHER'])).status).toBe(403);

    const granted = await submitWith(['runs:submit', 'runs:read', 'secrets:use:API_KEY'], {
      ...exfiltrate,
      name: 'granted',
      items: [
        { id: 'use', secrets: ['API_KEY'], runtime: { kind: 'command', argv: ['/bin/sh', '-c', 'test "$API_KEY" = "$EXPECTED"'] }, env: { EXPECTED: value } },
      ],
    });
    expect(granted.status, JSON.stringify(granted.answer)).toBe(201);
    expect((await composition.engine.waitForRun(granted.answer.runId!)).state).toBe('succeeded');
    const submitted = composition.engine.audit.runEntries(granted.answer.runId!).find((entry) => entry.action === 'run.submitted');
    expect(submitted?.data).toMatchObject({ secretsGranted: ['API_KEY'] });
    // A wildcard grant and admin hold every secret.
    expect((await submitWith(['runs:submit', 'secrets:use:*'])).status).toBe(201);
    expect((await submitWith(['admin'])).status).toBe(201);
  },
);

test("idempotency keys are each principal's own, and a header key that differs from the spec's is refused naming both", { timeout: 60_000 }, async () => {
  const { base, composition } = await start();
  const tokenOf = async (name: string) => (await composition.tokens.create(name, ['runs:submit', 'runs:read'])).token;
  const [alice, bob] = [await tokenOf('alice'), await tokenOf('bob')];
  const spec = { version: 1, name: 'keyed', items: [{ id: 'one', runtime: { kind: 'command', argv: ['/bin/true'] } }] };
  const submit = async (token: string, body: object, key?: string) => {
    const response = await fetch(`${base}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: JSON.stringify(body),
    });
    return {
      status: response.status,
      answer: (await response.json()) as { runId: string; created: boolean; code?: string; message?: string; action?: string },
    };
  };
  const first = await submit(alice, spec, 'nightly');
  const again = await submit(alice, spec, 'nightly');
  const other = await submit(bob, spec, 'nightly');
  expect([first.status, again.status, other.status]).toEqual([201, 200, 201]);
  expect(again.answer.runId).toBe(first.answer.runId);
  expect(other.answer.runId).not.toBe(first.answer.runId);
  expect(composition.engine.run(first.answer.runId)?.idempotencyKey).toBe('nightly');

  const mismatch = await submit(alice, { ...spec, idempotencyKey: 'from-the-spec' }, 'from-the-header');
  expect(mismatch.status).toBe(400);
  expect(mismatch.answer.code).toBe('CAIRN_PAYLOAD_INVALID');
  expect(mismatch.answer.message).toContain('"from-the-header"');
  expect(mismatch.answer.message).toContain('"from-the-spec"');
  // What to do names both keys too, not a protocol mismatch between client and server.
  expect(mismatch.answer.action).toContain('"from-the-header"');
  expect(mismatch.answer.action).toContain('"from-the-spec"');
  expect(mismatch.answer.action).not.toContain('disagree');
  expect((await submit(alice, { ...spec, idempotencyKey: 'same' }, 'same')).status).toBe(201);
});

test(
  'a stream opened with a token that is then revoked ends at the next event, and never carries a run submitted after the revocation',
  { timeout: 60_000 },
  async () => {
    const { base, composition, operatorToken } = await start();
    const created = await composition.tokens.create('watcher', ['runs:read']);
    const controller = new AbortController();
    const stream = await fetch(`${base}/v1/events`, { headers: { authorization: `Bearer ${created.token}` }, signal: controller.signal });
    const reader = stream.body!.getReader();
    await reader.read();
    await composition.tokens.revoke(created.record.id);
    const spec = { version: 1, name: 'after-revocation', items: [{ id: 'one', runtime: { kind: 'command', argv: ['/bin/true'] } }] };
    const { runId } = (await (
      await fetch(`${base}/v1/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
        body: JSON.stringify(spec),
      })
    ).json()) as { runId: string };
    let received = '';
    const ended = await Promise.race([
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return 'ended';
          received += new TextDecoder().decode(value);
        }
      })(),
      new Promise((resolve) => setTimeout(() => resolve('still open'), 10_000)),
    ]);
    controller.abort();
    expect(ended).toBe('ended');
    expect(received).not.toContain(runId);
  },
);
