import { randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import type { EgressSummary, ManifestNetworkAllowList } from '@cairn/core';
import { z } from 'zod';
import { EgressProxy } from '../egress/egress-proxy.ts';
import { egressRecordsToNdjson, type EgressRecord } from '../egress/egress-record.ts';
import { nameServerResolver } from '../egress/name-server-resolver.ts';

/** The worker's egress settings (its `egress`): what every allow-listed attempt's proxy is started with. */
export const workerEgressSettingsSchema = z
  .strictObject({
    /** Connections and bytes (both ways) an attempt may use; unbounded when absent. */
    limits: z.strictObject({ connections: z.int().min(1).optional(), bytes: z.int().min(1).optional() }).default({}),
    /** Name servers (IP addresses) the proxy asks, instead of the host's resolver. */
    nameServers: z.array(z.ipv4().or(z.ipv6())).default([]),
    /** CA certificates (PEM) trusted for hosts besides the system's: the proxy's upstream TLS, and the sandbox's. */
    trust: z.array(z.string().includes('-----BEGIN CERTIFICATE-----', { message: 'must be a PEM certificate' })).default([]),
    /** The server's and worker's own public addresses, never connected to whatever a name resolves to. */
    ownAddresses: z.array(z.ipv4().or(z.ipv6())).default([]),
  })
  .default({ limits: {}, nameServers: [], trust: [], ownAddresses: [] });
export type WorkerEgressSettings = z.output<typeof workerEgressSettingsSchema>;

// The system's trust as the sandbox sees it (bubblewrap shows /etc read-only); Node's own roots where it has none.
const systemBundle = '/etc/ssl/certs/ca-certificates.crt';

/**
 * An allow-listed attempt's way out (ADR 0049): its egress proxy, the environment that points the
 * runtime's tools at it (the proxy variables; placeholders for the secrets it brokers), the door a
 * sandbox launch makes the proxy's only way in, and, when it ends, the record of every connection.
 */
export class AttemptEgress {
  readonly #proxy: EgressProxy;
  readonly #port: number;
  readonly #folder: string;
  readonly #trustBundle: string | undefined;

  private constructor(proxy: EgressProxy, port: number, folder: string, trustBundle: string | undefined) {
    this.#proxy = proxy;
    this.#port = port;
    this.#folder = folder;
    this.#trustBundle = trustBundle;
  }

  /**
   * Starts the proxy for `network` with the attempt's `secrets` (the values the proxy puts into
   * requests to their bound hosts) and writes the sandbox's trust bundle when it needs one: the
   * system's CAs, the worker's extra ones, and the attempt's own when it brokers credentials.
   * `avoidPort` is the gateway's door: the relay listens on both inside.
   */
  static async start(
    network: ManifestNetworkAllowList,
    secrets: Readonly<Record<string, string>>,
    settings: WorkerEgressSettings,
    avoidPort: number | undefined,
  ): Promise<AttemptEgress> {
    const proxy = await EgressProxy.start(
      {
        allow: [...network.allow],
        deny: [...network.deny],
        limits: settings.limits,
        ownAddresses: settings.ownAddresses,
        trust: settings.trust,
        credentials: network.credentials.map((credential) => ({
          host: credential.host,
          secret: credential.secret,
          ...(credential.as ? { header: credential.as.header, value: credential.as.value } : {}),
        })),
      },
      { secrets, ...(settings.nameServers.length > 0 ? { resolve: nameServerResolver(settings.nameServers) } : {}) },
    );
    let folder: string | undefined;
    try {
      folder = await mkdtemp(join(tmpdir(), 'cairn-trust-'));
      let trustBundle: string | undefined;
      const own = proxy.caCertificate;
      if (own !== undefined || settings.trust.length > 0) {
        trustBundle = join(folder, 'ca-certificates.crt');
        const system = existsSync(systemBundle) ? readFileSync(systemBundle, 'utf8') : rootCertificates.join('\n');
        await writeFile(trustBundle, [system, ...settings.trust, ...(own === undefined ? [] : [own])].map((pem) => `${pem.trim()}\n`).join(''), {
          mode: 0o644,
        });
        // Only the bundle is in the folder: the sandbox's uid may read it, and nothing else is there.
        await chmod(folder, 0o711);
      }
      // Any port is free in a sandbox's fresh network namespace: one above the well-known ones, not the gateway's.
      let port = randomInt(1_024, 65_536);
      while (port === avoidPort) port = randomInt(1_024, 65_536);
      return new AttemptEgress(proxy, port, folder, trustBundle);
    } catch (error) {
      await proxy.close();
      if (folder !== undefined) await rm(folder, { recursive: true, force: true });
      throw error;
    }
  }

  /** What a sandbox launch is given (CommandLaunchContext.egress). */
  get door(): { readonly port: number; readonly socket: string; readonly trustBundle?: string } {
    return { port: this.#port, socket: this.#proxy.socketPath, ...(this.#trustBundle === undefined ? {} : { trustBundle: this.#trustBundle }) };
  }

  /**
   * The runtime's environment additions: every common proxy variable (curl, git, pip, npm, Python,
   * and Node with NODE_USE_ENV_PROXY) at the proxy, loopback left direct (the model gateway's door),
   * and each brokered secret as its placeholder, in place of its value.
   */
  environment(): Record<string, string> {
    const proxy = `http://127.0.0.1:${this.#port}`;
    const direct = '127.0.0.1,localhost,::1';
    return {
      HTTP_PROXY: proxy,
      HTTPS_PROXY: proxy,
      ALL_PROXY: proxy,
      http_proxy: proxy,
      https_proxy: proxy,
      all_proxy: proxy,
      NO_PROXY: direct,
      no_proxy: direct,
      npm_config_proxy: proxy,
      npm_config_https_proxy: proxy,
      PIP_PROXY: proxy,
      NODE_USE_ENV_PROXY: '1',
      ...this.#proxy.placeholders,
    };
  }

  /** Closes the proxy (open connections end now) and returns every connection's record and the summary for the history. */
  async finish(): Promise<{ readonly ndjson: Uint8Array; readonly summary: EgressSummary }> {
    await this.#proxy.close();
    await rm(this.#folder, { recursive: true, force: true });
    const records = this.#proxy.records();
    return { ndjson: new TextEncoder().encode(egressRecordsToNdjson(records)), summary: egressSummary(records, this.#proxy.flagged()) };
  }

  /** Closes without a record (the attempt never ran). */
  async close(): Promise<void> {
    await this.#proxy.close();
    await rm(this.#folder, { recursive: true, force: true });
  }
}

/** The counts, the first twenty refusals and the credential misuse flagged: what the attempt's history says. */
export function egressSummary(records: readonly EgressRecord[], flagged: readonly string[]): EgressSummary {
  const refused = records.filter((record) => record.decision !== 'allowed');
  return {
    allowed: records.length - refused.length,
    refused: refused.length,
    refusals: refused.slice(0, 20).map((record) => ({
      host: record.host.slice(0, 300),
      port: record.port,
      reason: record.reason ?? 'refused',
      message: (record.message ?? 'refused').slice(0, 2_000),
      wouldAdmit: record.wouldAdmit,
    })),
    flagged: flagged.slice(0, 20).map((flag) => flag.slice(0, 2_000)),
  };
}
