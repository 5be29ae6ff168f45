// A workflow run's failed jobs and their logs through GitHub Actions' API, as the review loop reads
// them: the attempt's jobs, then each failed job's log, which GitHub answers with a 302 to a
// download address on another host that must not be sent the token.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, expect, test } from 'vitest';
import { startGitHubApiServer } from './github-api.test-support.ts';
import { createGitHubForge } from './github-forge.ts';

const token = `github_pat_${'j'.repeat(40)}`;
const root = mkdtempSync(join(tmpdir(), 'cairn-github-jobs-'));
mkdirSync(join(root, 'acme/app'), { recursive: true });
const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const api = await startGitHubApiServer({ repositoryPath: (repository) => join(root, repository), app: { id: 1, publicKey, installationId: 2 } });
api.addToken(token, { repositories: ['acme/app'] });
afterAll(() => api.close());
const forge = createGitHubForge({ repository: 'acme/app', apiUrl: api.url, gitUrl: 'http://127.0.0.1:1', token });

test("a run's failed jobs come with their steps and logs; passing jobs, and a log GitHub no longer keeps, do not", async () => {
  const [lint, test1, build] = api.addWorkflowRun('acme/app', {
    id: 700,
    attempt: 2,
    headSha: 'c'.repeat(40),
    branch: 'cairn/issue-1',
    jobs: [
      { name: 'lint', conclusion: 'success', log: 'clean' },
      {
        name: 'test',
        conclusion: 'failure',
        steps: [
          { name: 'Checkout', conclusion: 'success' },
          { name: 'Run npm test', conclusion: 'failure' },
        ],
        log: 'line 1\nnot ok 1\n',
      },
      { name: 'build', conclusion: 'timed_out', steps: [{ name: 'Build', conclusion: 'cancelled' }] },
    ],
  });
  const jobs = await forge.readFailedJobs('700', 2);
  expect(jobs).toEqual([
    {
      id: String(test1),
      name: 'test',
      conclusion: 'failure',
      url: `${api.url}/acme/app/actions/runs/700/job/${test1}`,
      failedSteps: ['Run npm test'],
      log: 'line 1\nnot ok 1\n',
    },
    { id: String(build), name: 'build', conclusion: 'timed_out', url: `${api.url}/acme/app/actions/runs/700/job/${build}`, failedSteps: ['Build'], log: '' },
  ]);
  expect(api.requests).toContain('GET /repos/acme/app/actions/runs/700/attempts/2/jobs');
  expect(api.requests).toContain(`GET /repos/acme/app/actions/jobs/${test1}/logs`);
  expect(api.requests).not.toContain(`GET /repos/acme/app/actions/jobs/${lint}/logs`);
  // Another attempt, or a run GitHub does not have: no jobs.
  expect(await forge.readFailedJobs('700', 1)).toEqual([]);
  await expect(forge.readFailedJobs('not-a-run', 1)).rejects.toMatchObject({ code: 'CAIRN_FORGE_REQUEST_INVALID', path: 'runId' });
});
