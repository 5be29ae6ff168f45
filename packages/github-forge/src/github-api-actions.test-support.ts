import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { notFound, type RouteAnswer } from './github-api-answers.test-support.ts';

/** A job of a workflow run as a test writes it: its name, conclusion, steps and plain-text log. */
export interface TestJob {
  readonly name: string;
  /** `success`, `failure`, `timed_out`, `cancelled`, `skipped`. */
  readonly conclusion: string;
  readonly steps?: readonly { readonly name: string; readonly conclusion: string }[];
  /** Its log; undefined when GitHub no longer has it (expired logs answer 410 Gone). */
  readonly log?: string;
}

interface StoredJob extends TestJob {
  readonly id: number;
  readonly runId: number;
  readonly attempt: number;
  readonly repository: string;
  readonly headSha: string;
  readonly branch: string;
}

/**
 * GitHub Actions' workflow run jobs and their logs, as GitHub's REST reference documents them:
 * `GET /repos/{o}/{r}/actions/runs/{id}/attempts/{n}/jobs` answers the attempt's jobs, and
 * `GET /repos/{o}/{r}/actions/jobs/{id}/logs` answers 302 to a short-lived download address on
 * another host that takes no credential (as GitHub's signed log URLs do; one sent with an
 * `Authorization` header is refused, so a client that leaked its token there fails its test).
 */
export class ActionsRoutes {
  readonly #jobs: StoredJob[] = [];
  readonly #downloads = new Map<string, StoredJob>();
  #server: Server | undefined;
  #downloadUrl = '';
  #nextJob = 29_679_449;

  async start(): Promise<void> {
    this.#server = createServer((request: IncomingMessage, response) => {
      const job = this.#downloads.get(new URL(request.url ?? '/', 'http://127.0.0.1').pathname.replace(/^\/logs\//, ''));
      if (request.headers.authorization !== undefined) {
        // Blob storage answers a request with a credential beside its signature so.
        response.writeHead(400, { 'Content-Type': 'application/xml' });
        response.end('<?xml version="1.0" encoding="utf-8"?><Error><Code>InvalidAuthenticationInfo</Code></Error>');
        return;
      }
      if (job === undefined || job.log === undefined) {
        response.writeHead(404, { 'Content-Type': 'application/xml' });
        response.end('<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code></Error>');
        return;
      }
      response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      response.end(job.log);
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.#downloadUrl = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.#server === undefined ? resolve() : this.#server.close(() => resolve())));
  }

  /** Records attempt `attempt` of workflow run `runId` on `headSha` with its jobs; answers their ids. */
  addWorkflowRun(
    repository: string,
    run: { readonly id: number; readonly attempt?: number; readonly headSha: string; readonly branch: string; readonly jobs: readonly TestJob[] },
  ): number[] {
    return run.jobs.map((job) => {
      this.#nextJob += 1;
      this.#jobs.push({ ...job, id: this.#nextJob, runId: run.id, attempt: run.attempt ?? 1, repository, headSha: run.headSha, branch: run.branch });
      return this.#nextJob;
    });
  }

  /** Answers a request under `/repos/{repository}/actions/…` (`rest` after the repository), or undefined when it is not one. */
  answer(method: string, repository: string, rest: readonly string[], url: string): RouteAnswer | undefined {
    if (method !== 'GET' || rest[0] !== 'actions') return undefined;
    if (rest[1] === 'runs' && rest[3] === 'attempts' && rest[5] === 'jobs' && rest.length === 6) {
      const jobs = this.#jobs.filter((job) => job.repository === repository && String(job.runId) === rest[2] && String(job.attempt) === rest[4]);
      if (jobs.length === 0) throw notFound();
      return [200, { total_count: jobs.length, jobs: jobs.map((job) => this.#jobJson(job, url)) }];
    }
    if (rest[1] === 'jobs' && rest[3] === 'logs' && rest.length === 4) {
      const job = this.#jobs.find((candidate) => candidate.repository === repository && String(candidate.id) === rest[2]);
      if (job === undefined) throw notFound();
      if (job.log === undefined) return [410, { message: 'Gone', documentation_url: 'https://docs.github.com/rest/actions/workflow-jobs', status: '410' }];
      const token = randomBytes(12).toString('hex');
      this.#downloads.set(token, job);
      return [302, undefined, { Location: `${this.#downloadUrl}/logs/${token}?urlExpires=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}` }];
    }
    return undefined;
  }

  #jobJson(job: StoredJob, url: string): Record<string, unknown> {
    const started = '2019-05-15T15:21:12Z';
    const completed = '2019-05-15T15:22:45Z';
    return {
      id: job.id,
      run_id: job.runId,
      run_url: `${url}/repos/${job.repository}/actions/runs/${job.runId}`,
      run_attempt: job.attempt,
      node_id: `CR_${job.id}`,
      head_sha: job.headSha,
      url: `${url}/repos/${job.repository}/actions/jobs/${job.id}`,
      html_url: `${url}/${job.repository}/actions/runs/${job.runId}/job/${job.id}`,
      status: 'completed',
      conclusion: job.conclusion,
      created_at: started,
      started_at: started,
      completed_at: completed,
      name: job.name,
      steps: (job.steps ?? []).map((step, index) => ({
        name: step.name,
        status: 'completed',
        conclusion: step.conclusion,
        number: index + 1,
        started_at: started,
        completed_at: completed,
      })),
      check_run_url: `${url}/repos/${job.repository}/check-runs/${job.id}`,
      labels: ['ubuntu-latest'],
      runner_id: 1,
      runner_name: 'GitHub Actions 1',
      runner_group_id: 2,
      runner_group_name: 'GitHub Actions',
      workflow_name: 'CI',
      head_branch: job.branch,
    };
  }
}
