// Requests refused before authentication (a rebound Host, a page of another origin) leave a trace
// an operator can see: counted in /metrics by reason. They write no audit entry (any page could
// fill the log); the log line they get is rate-limited (refusal-log.test.ts).
import { request as httpRequest } from 'node:http';
import { expect, test } from 'vitest';
import { runningServers } from './running-server.test-support.ts';

const start = runningServers();

/** A raw request, its Host and browser headers as given (fetch would set its own Host). */
function send(base: string, headers: Record<string, string>): Promise<number> {
  const url = new URL('/v1/runs', base);
  return new Promise((resolve, reject) => {
    const sent = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers, setHost: false }, (answer) => {
      answer.resume();
      resolve(answer.statusCode ?? 0);
    });
    sent.on('error', reject);
    sent.end('{}');
  });
}

test('refused browser requests are counted in /metrics by reason, and write no audit entry', async () => {
  const { base, api, composition } = await start();
  const host = new URL(base).host;
  const entriesBefore = await composition.service.auditSize();
  const statuses = [
    await send(base, { host: `rebind.test:${new URL(base).port}` }),
    await send(base, { host, origin: 'http://evil.test', 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' }),
    await send(base, { host, origin: 'http://evil.test', 'sec-fetch-site': 'cross-site', 'content-type': 'text/plain' }),
  ];
  expect(statuses).toEqual([403, 403, 403]);
  const metrics = await (await api('/metrics')).text();
  expect(metrics).toContain('cairn_http_browser_requests_refused_total{reason="host"} 1');
  expect(metrics).toContain('cairn_http_browser_requests_refused_total{reason="origin"} 2');
  expect(await composition.service.auditSize()).toBe(entriesBefore);
});
