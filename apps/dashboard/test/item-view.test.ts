// An item of a run in Debian's Chromium against a real server: its output live while it runs,
// its attempts (a retried item shows each), and its patch as a diff (unified and side by side)
// with a download of the exact patch the server stores; each attempt's signed dispatch manifest,
// with a download of its exact bytes.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, test } from 'vitest';
import { runningServers } from '../../server/src/http/running-server.test-support.ts';
import { browserPages } from './browser-pages.test-support.ts';
import { runReaches, shell, submitRun } from './submit-run.test-support.ts';

const start = runningServers();
const { signedIn, screenshot } = browserPages();

test("an item's output shows live while it runs, then how its attempt ended", async () => {
  const { directory, base, api, operatorToken } = await start('tokens');
  // The item holds between its two lines until the test lets it go (a file in its workspace), so
  // "still running" is seen however slowly the page comes up, not within a sleep's length.
  const script = 'echo first line; touch held; while [ ! -e released ]; do sleep 0.1; done; echo second line; echo warning >&2';
  const runId = await submitRun(api, { version: 1, name: 'talker', items: [shell('talk', script)] });
  const page = await signedIn(base, operatorToken, `#/runs/${runId}/items/talk`);
  const output = page.getByLabel('Output');
  await expect.poll(() => output.textContent(), { timeout: 60_000 }).toContain('first line');
  // Still running: the second line is not there yet, and the item says so.
  expect(await output.textContent()).not.toContain('second line');
  expect(await page.locator('svg.dag [data-item-id="talk"]').getAttribute('data-state')).toBe('running');
  const held = await heldFileUnder(directory);
  writeFileSync(join(dirname(held), 'released'), '');
  await expect.poll(() => output.textContent(), { timeout: 60_000 }).toContain('second line');
  await expect.poll(() => page.locator('.attempt-end').textContent()).toMatch(/Attempt 1 ended succeeded \(exit code 0\)/);
  expect(await output.locator('.stderr-text').textContent()).toBe('warning\n');
});

/** The file `held` the talking item writes in its workspace (somewhere under the server's directory). */
async function heldFileUnder(directory: string): Promise<string> {
  let found: string | undefined;
  await expect
    .poll(
      () => {
        try {
          found = (readdirSync(directory, { recursive: true }) as string[]).find((path) => path === 'held' || path.endsWith('/held'));
        } catch {
          // A folder that went away mid-walk (an attempt's scratch space): look again.
        }
        return found;
      },
      { timeout: 60_000, interval: 200 },
    )
    .toBeDefined();
  return join(directory, found!);
}

test("a retried item lists its attempts, and each attempt's output opens", async () => {
  const { base, api, operatorToken } = await start('tokens');
  // Each attempt prints its own moment (attempts start in fresh workspaces: nothing else tells them apart).
  const runId = await submitRun(api, {
    version: 1,
    name: 'flaky',
    items: [shell('flaky', 'echo "try at $(date +%s%N)"; exit 1', { retry: { maxAttempts: 2, backoff: { initial: '1s' } } })],
  });
  await runReaches(api, runId);
  const page = await signedIn(base, operatorToken, `#/runs/${runId}/items/flaky`);
  const attempts = page.getByRole('group', { name: 'Attempts' }).getByRole('button');
  await expect.poll(() => attempts.allTextContents()).toEqual(['attempt 1', 'attempt 2']);
  const output = page.getByLabel('Output');
  await expect.poll(() => page.locator('.attempt-end').textContent()).toMatch(/Attempt 2 ended failed \(exit code 1\)/);
  const second = await output.textContent();
  expect(second).toMatch(/^try at \d+\n$/);
  // Each attempt with its own outcome and reason.
  expect(await page.locator('.attempts-table tr[data-attempt="1"] .attempt-failure').textContent()).toMatch(/^CAIRN_EXIT_NONZERO: /);
  expect(await page.locator('.attempts-table tr[data-attempt="2"] .state-badge').textContent()).toBe('failed');
  expect(await page.locator('.attempts-table caption').textContent()).toMatch(/waited .+ to be dispatched · 2 attempts/);
  await attempts.nth(0).click();
  await expect.poll(() => page.locator('.attempt-end').textContent()).toMatch(/Attempt 1 ended failed \(exit code 1\)/);
  const first = await output.textContent();
  expect(first).toMatch(/^try at \d+\n$/);
  expect(first).not.toBe(second);
  expect(await attempts.nth(0).getAttribute('aria-pressed')).toBe('true');
  // The manifest shown is the chosen attempt's (each attempt is signed apart).
  const digests = ((await (await api(`/v1/runs/${runId}/items/flaky/attempts`)).json()) as { manifestDigest: string }[]).map((view) => view.manifestDigest);
  expect(digests[0]).not.toBe(digests[1]);
  await expect.poll(() => page.getByRole('region', { name: 'Manifest of attempt 1' }).locator('.manifest-digest').textContent()).toBe(digests[0]);
  await attempts.nth(1).click();
  await expect.poll(() => page.getByRole('region', { name: 'Manifest of attempt 2' }).locator('.manifest-digest').textContent()).toBe(digests[1]);
});

test('an item that waited for a lock another item held shows that wait as its own span, with the lock, and one that did not shows none', async () => {
  const { base, api, operatorToken } = await start('tokens');
  // Both take the lock 'deploy': the second is ready at once but waits until the first lets it go.
  const runId = await submitRun(api, {
    version: 1,
    name: 'one-deploy-at-a-time',
    items: [shell('first', 'sleep 5', { locks: ['deploy'] }), shell('second', 'true', { locks: ['deploy'] })],
  });
  // While it waits, the item says for which lock.
  const itemOf = async (itemId: string) =>
    ((await (await api(`/v1/runs/${runId}/items`)).json()) as { itemId: string; state: string; lockWait: unknown }[]).find((item) => item.itemId === itemId)!;
  await expect.poll(async () => (await itemOf('second')).lockWait).toMatchObject({ locks: ['deploy'] });
  expect((await itemOf('first')).lockWait).toBeNull();
  const page = await signedIn(base, operatorToken, `#/runs/${runId}/items/second`);
  const waiting = page.locator('.lock-waiting');
  await expect.poll(() => waiting.textContent()).toMatch(/^Waiting for lock deploy since .+: another item holds it/);
  await runReaches(api, runId);
  // Dispatched: the item no longer waits (its attempt keeps the wait), live, without a reload.
  await expect.poll(() => waiting.count()).toBe(0);
  expect((await itemOf('second')).lockWait).toBeNull();
  const attempts = async (itemId: string) => (await (await api(`/v1/runs/${runId}/items/${itemId}/attempts`)).json()) as { lockWait: unknown }[];
  expect((await attempts('second'))[0]!.lockWait).toMatchObject({ locks: ['deploy'] });
  expect((await attempts('first'))[0]!.lockWait).toBeNull();

  const row = page.locator('.attempts-table tr[data-attempt="1"]');
  await expect.poll(() => row.locator('.lock-wait').textContent()).toMatch(/^ · waited \d+\.\d s for lock deploy$/);
  // It waited while 'first' ran (2 s, more on a loaded machine).
  expect(Number(/waited (\d+\.\d) s/.exec((await row.locator('.lock-wait').textContent())!)![1])).toBeGreaterThanOrEqual(1.5);
  expect(await row.locator('.attempt-timeline .span-lock').count()).toBe(1);
  // Queue wait, lock wait and run time, in that order.
  // (The queue span once the item's summary, with when it became ready, has been read too.)
  await expect
    .poll(() => row.locator('[data-span]').evaluateAll((spans) => spans.map((span) => span.getAttribute('data-span'))))
    .toEqual(['queue', 'lock', 'run']);
  expect(await row.locator('.attempt-timeline > span').evaluateAll((spans) => spans.map((span) => span.className))).toEqual([
    'span-queue',
    'span-lock',
    'span-run',
  ]);
  await screenshot(page, 'lock-wait');

  await page.evaluate((target) => (location.hash = target), `#/runs/${runId}/items/first`);
  const firstRow = page.locator('.attempts-table tr[data-attempt="1"]');
  await expect.poll(() => firstRow.textContent()).toMatch(/ran \d+\.\d s/);
  expect(await firstRow.locator('.lock-wait').count()).toBe(0);
  expect(await firstRow.locator('.attempt-timeline .span-lock').count()).toBe(0);
});

test("a succeeded item's patch opens as a diff, unified or side by side, and downloads as the server stores it", async () => {
  const { base, api, operatorToken } = await start('tokens');
  const runId = await submitRun(api, {
    version: 1,
    name: 'writer',
    items: [shell('write', 'printf "hello\\nworld\\n" > greeting.txt; mkdir -p docs; printf "# Notes\\n\\nKeep the log.\\n" > docs/notes.md')],
  });
  await runReaches(api, runId);
  const stored = await (await api(`/v1/runs/${runId}/items/write/patch`)).text();
  expect(stored).toContain('+hello');
  const page = await signedIn(base, operatorToken, `#/runs/${runId}/items/write`);
  const diff = page.locator('.diff');
  await expect.poll(() => diff.locator('.d2h-file-wrapper').count()).toBe(2);
  expect(await diff.locator('.d2h-file-list').textContent()).toContain('greeting.txt');
  expect(await diff.textContent()).toContain('Keep the log.');
  expect(await diff.locator('.d2h-ins').count()).toBeGreaterThan(0);
  expect(await page.locator('.attempts-table tr[data-attempt="1"]').textContent()).toMatch(/succeeded.*ran .+ · exit 0/);
  await screenshot(page, 'patch-unified', { docs: 'dashboard-patch.png' });
  await page.getByRole('button', { name: 'Side by side' }).click();
  await expect.poll(() => diff.locator('.d2h-files-diff').count()).toBe(2);

  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download the patch' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toBe(`${runId}-write.patch`);
  expect(readFileSync((await file.path())!, 'utf8')).toBe(stored);
});

test("a finished item shows its attempt's signed manifest: digest, signer, argv, inputs, env names, limits, and downloads its exact bytes", async () => {
  const { base, api, operatorToken } = await start('tokens');
  const runId = await submitRun(api, {
    version: 1,
    name: 'manifested',
    items: [
      shell('measure', 'echo 42'),
      shell('report', 'echo reported', {
        needs: { sizes: { from: 'measure', select: 'stdout' } },
        env: { GREETING: 'hello-value' },
        timeout: '2m',
      }),
    ],
  });
  await runReaches(api, runId);
  const [attempt] = (await (await api(`/v1/runs/${runId}/items/report/attempts`)).json()) as { manifestDigest: string }[];
  const digest = attempt!.manifestDigest;
  expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
  const stored = new Uint8Array(await (await api(`/v1/blobs/${digest}`)).arrayBuffer());
  const envelope = JSON.parse(new TextDecoder().decode(stored)) as { payload: string; signatures: { keyid: string }[] };
  const manifest = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { workspace: string; inputs: Record<string, { digest: string }> };

  const page = await signedIn(base, operatorToken, `#/runs/${runId}/items/report`);
  const section = page.getByRole('region', { name: 'Manifest of attempt 1' });
  await expect.poll(() => section.locator('.manifest-argv').textContent(), { timeout: 30_000 }).toBe(JSON.stringify(['/bin/sh', '-c', 'echo reported']));
  expect(await section.locator('.manifest-digest').textContent()).toBe(digest);
  await expect.poll(() => section.textContent()).toContain('the bytes match it');
  expect(await section.locator('.manifest-signers code').allTextContents()).toEqual(envelope.signatures.map((signature) => signature.keyid));
  expect(await section.locator('.manifest-workspace').textContent()).toBe(manifest.workspace);
  expect(await section.locator('.manifest-inputs [data-input="sizes"]').textContent()).toContain(manifest.inputs['sizes']!.digest);
  expect(await section.locator('.manifest-inputs [data-input="sizes"]').textContent()).toContain('measure');
  // Environment by name; its value only in the raw JSON, which stays folded until asked for.
  expect(await section.locator('.manifest-env').textContent()).toBe('GREETING');
  expect(await section.locator('.manifest-secrets').textContent()).toBe('none');
  expect(await section.locator('.manifest-limits').textContent()).toMatch(/^timeout 2 min · network off · isolation \S+/);
  expect(await section.locator('.manifest-raw pre').first().isVisible()).toBe(false);
  await section.locator('.manifest-raw summary').click();
  expect(await section.locator('.manifest-raw pre').first().textContent()).toContain('"GREETING": "hello-value"');
  await screenshot(page, 'item-manifest');

  const download = page.waitForEvent('download');
  await section.getByRole('button', { name: 'Download the manifest' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toBe(`${runId}-report-attempt-1.manifest.json`);
  const downloaded = readFileSync((await file.path())!);
  expect(`sha256:${createHash('sha256').update(downloaded).digest('hex')}`).toBe(digest);
  expect(new Uint8Array(downloaded)).toEqual(stored);
});

test('a manifest signed with the others of its dispatch pass shows the batch that signed it, and its own payload', async () => {
  const { base, api, operatorToken } = await start('tokens');
  // Three items ready at once are dispatched in one pass: their manifests share one signature (ADR 0026).
  const runId = await submitRun(api, { version: 1, name: 'together', items: [shell('one', 'echo 1'), shell('two', 'echo 2'), shell('three', 'echo 3')] });
  await runReaches(api, runId);
  const [attempt] = (await (await api(`/v1/runs/${runId}/items/two/attempts`)).json()) as { manifestDigest: string }[];
  const stored = JSON.parse(await (await api(`/v1/blobs/${attempt!.manifestDigest}`)).text()) as {
    batch: { payload: string; signatures: { keyid: string }[] };
    index: number;
  };
  const batch = JSON.parse(Buffer.from(stored.batch.payload, 'base64').toString('utf8')) as { size: number };
  expect(batch.size).toBe(3);

  const page = await signedIn(base, operatorToken, `#/runs/${runId}/items/two`);
  const section = page.getByRole('region', { name: 'Manifest of attempt 1' });
  await expect.poll(() => section.locator('.manifest-argv').textContent(), { timeout: 30_000 }).toBe(JSON.stringify(['/bin/sh', '-c', 'echo 2']));
  await expect.poll(() => section.textContent()).toContain('the bytes match it');
  expect(await section.locator('.manifest-signers code').allTextContents()).toEqual(stored.batch.signatures.map((signature) => signature.keyid));
  expect(await section.locator('.manifest-signers').textContent()).toContain(
    `application/vnd.cairn.manifest-batch+json · signed once with the 3 manifests of its dispatch pass (leaf ${stored.index})`,
  );
});

test("an item's spec shows its lock names, label keys and label values as text, markup included; markup in a lock name or label key is refused at submit", async () => {
  const { base, api, operatorToken } = await start('tokens');
  // A label value is free text: markup in it must reach the page as characters, never as elements.
  const value = '<img src=x onerror="document.title=`run`"><b>bold</b> & "quoted"';
  const locks = ['file:src/shared.ts', { name: 'db/primary', mode: 'shared' }];
  const labels = { 'app.example.com/note': value };
  const runId = await submitRun(api, { version: 1, name: 'labelled', items: [shell('tagged', 'true', { locks, labels })] });
  await runReaches(api, runId);
  const page = await signedIn(base, operatorToken, `#/runs/${runId}/items/tagged`);
  const spec = page.locator('.item-spec');
  await spec.locator('summary').click();
  const shown = JSON.parse((await spec.locator('pre').textContent())!) as { locks: unknown; labels: unknown };
  expect(shown.locks).toEqual(locks);
  expect(shown.labels).toEqual(labels);
  expect(await spec.locator('pre').innerHTML()).toContain('&lt;img src=x onerror=');
  expect(await page.locator('img, b').count()).toBe(0);
  expect(await page.title()).not.toBe('run');

  // Nothing of the kind gets that far in a lock name or a label key: the spec is refused, at the path.
  for (const [field, path] of [
    [{ locks: ['<b>db</b>'] }, '$.items[0].locks[0]'],
    [{ labels: { '<b>key</b>': 'x' } }, '$.items[0].labels["<b>key</b>"]'],
  ] as const) {
    const refused = await api('/v1/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: 1, name: 'refused', items: [shell('tagged', 'true', field)] }),
    });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ code: 'CAIRN_RUN_SPEC_INVALID', issues: [{ path, message: expect.stringContaining('letters, digits') }] });
  }
});

test("a failure is said once: a merge conflict's summary, its hunks beneath as written, the attempt naming only its code", async () => {
  const { base, api, operatorToken } = await start('tokens');
  // Two items that each add NOTES.md with other contents: the merge conflicts at beta.
  const runId = await submitRun(api, {
    version: 1,
    name: 'conflicting',
    items: [
      shell('alpha', 'printf "alpha\\n" > NOTES.md'),
      shell('beta', 'printf "beta\\n" > NOTES.md'),
      { id: 'combine', runtime: { kind: 'merge', from: ['alpha', 'beta'] } },
    ],
  });
  await runReaches(api, runId);
  const [item] = ((await (await api(`/v1/runs/${runId}/items`)).json()) as { itemId: string; failure: { code: string; message: string } }[]).filter(
    (candidate) => candidate.itemId === 'combine',
  );
  expect(item!.failure.code).toBe('CAIRN_MERGE_CONFLICT');
  const [summary, ...hunks] = item!.failure.message.split('\n');
  expect(hunks.length).toBeGreaterThan(0);
  const page = await signedIn(base, operatorToken, `#/runs/${runId}/items/combine`);
  const panel = page.getByRole('region', { name: 'Item combine' });
  await expect.poll(() => panel.locator('.failure .failure-summary').textContent()).toBe(`CAIRN_MERGE_CONFLICT ${summary}`);
  // The hunks beneath, line by line as written (not flattened onto the summary's line).
  expect(await panel.locator('.failure .failure-detail').textContent()).toBe(hunks.join('\n').trim());
  // Outside the output panel (the whole log), the summary shows once and the conflict marker once.
  await expect.poll(() => panel.locator('.attempts-table tr[data-attempt="1"] .attempt-failure').textContent()).toBe('CAIRN_MERGE_CONFLICT (why: above)');
  const outsideOutput = await panel.evaluate((element) => {
    const copy = element.cloneNode(true) as HTMLElement;
    for (const output of copy.querySelectorAll('[aria-label="Output"]')) output.remove();
    return copy.textContent ?? '';
  });
  expect(outsideOutput.split(summary!).length - 1).toBe(1);
  expect(outsideOutput.split('<<<<<<<').length - 1).toBe(1);
  expect(await panel.locator('.attempts-table tr[data-attempt="1"] .attempt-failure').getAttribute('title')).toBe(item!.failure.message);
});

test("an agent's stream-json output reads as a transcript, its raw output a click away", async () => {
  const { base, api, operatorToken } = await start('tokens');
  // Claude Code's stream-json, as an agent item writes it (printed here by a command, so no model is needed).
  const events = [
    {
      type: 'assistant',
      message: {
        content: [
          { type: 'text', text: 'Reading the notes.' },
          { type: 'tool_use', id: 't1', name: 'Read', input: { file_path: 'NOTES.md' } },
        ],
      },
    },
    { type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 't1', content: 'alpha: todo' }] } },
    { type: 'result', subtype: 'success', num_turns: 1, result: 'Done.' },
  ];
  const script = events.map((event) => `printf '%s\\n' '${JSON.stringify(event)}'`).join('; ');
  const runId = await submitRun(api, { version: 1, name: 'transcript', items: [shell('agent', script)] });
  await runReaches(api, runId);
  const page = await signedIn(base, operatorToken, `#/runs/${runId}/items/agent`);
  const transcript = page.getByRole('list', { name: 'Transcript' });
  await expect
    .poll(() => transcript.locator('li').allTextContents())
    .toEqual([
      'AgentReading the notes.',
      `Tool call Read${JSON.stringify({ file_path: 'NOTES.md' }, null, 2)}`,
      'Tool resultalpha: todo',
      'Ended success · 1 turns · Done.',
    ]);
  expect(await page.getByLabel('Output').isVisible()).toBe(false);
  await page.getByRole('button', { name: 'Show the raw output' }).click();
  expect(await page.getByLabel('Output').isVisible()).toBe(true);
  expect(await page.getByLabel('Output').textContent()).toBe(`${events.map((event) => JSON.stringify(event)).join('\n')}\n`);
  expect(await transcript.count()).toBe(0);
  await page.getByRole('button', { name: 'Show the transcript' }).click();
  expect(await transcript.isVisible()).toBe(true);
});
