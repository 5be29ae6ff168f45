import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { readTimestampTokenInfo, verifyTimestampToken } from '@cairn/audit';
import type { AnchorCheckpoint, AnchoredCheckpoint, AnchorReceipt, AuditAnchorV1, CheckpointReference } from '@cairn/core';
import { assertAnchorCheckpoint, CairnError, isCairnError, parseSettings, sha256Digest } from '@cairn/protocol';
import { z } from 'zod';
import { timestampQueryType, timestampReplyType, timestampRequest } from '../request/timestamp-request.ts';
import { readTimestampResponse } from '../request/timestamp-response.ts';

const timeStampingUsage = '1.3.6.1.5.5.7.3.8';

/** Settings of `createRfc3161Anchor`, checked at construction; errors name `rfc3161.<option>`. */
export const rfc3161AnchorSettingsSchema = z.strictObject({
  /** The TSA's RFC 3161 HTTP endpoint (`https://freetsa.org/tsr`); the query is POSTed to it. */
  url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL of the TSA' }),
  /**
   * The PEM certificate of the TSA (the one that signs its tokens, with the timeStamping extended
   * key usage). A reply is accepted only when its token verifies with it; certificates inside a
   * token are never trusted.
   */
  trustedCertificate: z.string().superRefine((pem, context) => {
    const problem = certificateProblem(pem);
    if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
  }),
  /** How long one request may take before the TSA counts as unavailable (the checkpoint stays queued). */
  timeoutMs: z.int().min(100).max(300_000).default(10_000),
});

export type Rfc3161AnchorSettings = z.input<typeof rfc3161AnchorSettingsSchema>;

/** A reply is a few kilobytes (token plus certificate); far more is not a TSA's reply. */
const maximumReplyBytes = 256 * 1024;
/** Tree heads remembered for idempotency and equivocation checks in this process. */
const rememberedTreeHeads = 1024;

/**
 * AuditAnchorV1 by an RFC 3161 timestamp authority, guarantee `detect`: for each checkpoint it
 * POSTs a TimeStampReq (SHA-256 of the envelope bytes, a random nonce, certReq) to the TSA and
 * accepts the reply only when the status grants a token, the token verifies against
 * `trustedCertificate` and stamps exactly that hash (SHA-256, not another algorithm), and the
 * nonce is ours. The receipt carries the token (`timestampToken`, base64 DER); an evidence bundle
 * carries it as `timestamp`, which `verifyBundle` checks with the TSA certificate trusted to
 * reach the claim `witnessed` (ADR 0018).
 *
 * A TSA keeps nothing: it witnesses that the checkpoint existed at a time, it does not hold it.
 * So `guarantee` is `detect` (the token proves a time, not that nobody can rewrite the log
 * afterwards), and `read` returns null: there is nothing to read back live; the token in the
 * receipt is the evidence, and it is checked offline.
 *
 * Errors: CAIRN_ANCHOR_UNAVAILABLE when the TSA does not answer, answers 5xx/429, or says it is
 * busy (`waiting`, `timeNotAvailable`, `systemFailure`): the engine queues the checkpoint and
 * retries. CAIRN_TIMESTAMP_REFUSED when it answers something unusable: another status, a token
 * that does not verify against the trusted certificate, over another hash or another checkpoint,
 * or with another nonce. CAIRN_ANCHOR_CONFLICT for another root at a tree size this process has
 * already stamped (the last 1024 tree heads; the engine's database keeps the receipts).
 */
export class Rfc3161Anchor implements AuditAnchorV1 {
  readonly specificationVersion = 'v1';
  readonly provider = 'rfc3161';
  readonly guarantee = 'detect';
  /** How reports name it: `rfc3161:<url>`. */
  readonly name: string;
  readonly settings: Readonly<z.output<typeof rfc3161AnchorSettingsSchema>>;
  readonly #certificate: X509Certificate;
  readonly #location: string;
  readonly #authorization: string | undefined;
  /** Receipts of the last tree heads stamped here, by `origin\ntreeSize`: a retry gets the first token. */
  readonly #stamped = new Map<string, { readonly rootHash: string; readonly receipt: Promise<AnchorReceipt> }>();

  constructor(settings: Rfc3161AnchorSettings) {
    this.settings = parseSettings(rfc3161AnchorSettingsSchema, settings, 'rfc3161');
    this.#certificate = new X509Certificate(this.settings.trustedCertificate);
    const url = new URL(this.settings.url);
    // Credentials in the URL (a TSA behind HTTP basic auth) are sent as an Authorization header,
    // never written into receipts, reports or errors.
    if (url.username !== '' || url.password !== '')
      this.#authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    url.username = '';
    url.password = '';
    this.#location = url.href;
    this.name = `${this.provider}:${this.#location}`;
  }

  anchor(checkpoint: AnchorCheckpoint): Promise<AnchorReceipt> {
    try {
      assertAnchorCheckpoint(checkpoint, this.provider);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const key = `${checkpoint.origin}\n${checkpoint.treeSize}`;
    const known = this.#stamped.get(key);
    if (known) {
      if (known.rootHash !== checkpoint.rootHash) {
        return Promise.reject(
          new CairnError(
            'CAIRN_ANCHOR_CONFLICT',
            `[cairn] [rfc3161] tree size ${checkpoint.treeSize} of ${checkpoint.origin} was already stamped with root ${known.rootHash}, not ${checkpoint.rootHash}: equivocation. Investigate the log before anchoring anything else.`,
            { details: { origin: checkpoint.origin, treeSize: checkpoint.treeSize } },
          ),
        );
      }
      return known.receipt;
    }
    const receipt = this.#stamp(checkpoint);
    this.#stamped.set(key, { rootHash: checkpoint.rootHash, receipt });
    if (this.#stamped.size > rememberedTreeHeads) this.#stamped.delete(this.#stamped.keys().next().value!);
    // A failed stamp is forgotten, so the engine's retry asks the TSA again.
    receipt.catch(() => {
      if (this.#stamped.get(key)?.receipt === receipt) this.#stamped.delete(key);
    });
    return receipt;
  }

  /**
   * Always null: a TSA holds no checkpoint to read back (its token, in the receipt and the
   * bundle, is checked offline by `verifyBundle`). Verifiers do not list it among the anchors
   * they read live.
   */
  async read(_reference: CheckpointReference, _receipt?: AnchorReceipt): Promise<AnchoredCheckpoint | null> {
    return null;
  }

  async #stamp(checkpoint: AnchorCheckpoint): Promise<AnchorReceipt> {
    const hash = createHash('sha256').update(checkpoint.envelope).digest();
    const nonce = BigInt(`0x${randomBytes(8).toString('hex')}`);
    const reply = await this.#post(timestampRequest(hash, nonce));
    let response;
    try {
      response = readTimestampResponse(reply);
    } catch (error) {
      throw this.#refused(`its reply is not a TimeStampResp (${(error as Error).message})`, error);
    }
    if (!response.granted) {
      const said = [response.statusText, response.failures.join(', ')].filter((part) => part !== '').join('; ');
      const message = `the TSA answered ${response.status}${said === '' ? '' : ` (${said})`}`;
      if (response.status === 'waiting' || response.failures.some((failure) => failure === 'timeNotAvailable' || failure === 'systemFailure')) {
        throw this.#unavailable(message);
      }
      throw this.#refused(`${message}. Check that the TSA accepts SHA-256 requests without a policy`);
    }
    if (!response.token) throw this.#refused('the TSA granted the request but its reply holds no token');
    let time: string;
    try {
      // Signature by the trusted certificate, valid at the stamped time and allowed to stamp, and
      // the imprint equal to the hash of these envelope bytes (another checkpoint fails here).
      time = verifyTimestampToken(response.token, checkpoint.envelope, [this.#certificate]).time;
    } catch (error) {
      throw this.#refused((error as Error).message, error);
    }
    const info = readTimestampTokenInfo(response.token);
    if (info.hashAlgorithm !== 'sha256') throw this.#refused(`its token stamps a ${info.hashAlgorithm} hash, but the request asked for sha256`);
    if (!Buffer.from(info.hashedMessage).equals(hash)) throw this.#refused('its token stamps another hash than the one requested');
    if (info.nonce !== nonce) {
      throw this.#refused(
        info.nonce === undefined
          ? 'its token does not echo the request nonce'
          : `its token carries nonce ${info.nonce}, not the request's ${nonce} (a reply to another request)`,
      );
    }
    return {
      anchor: this.provider,
      guarantee: this.guarantee,
      location: this.#location,
      anchoredAt: time,
      origin: checkpoint.origin,
      treeSize: checkpoint.treeSize,
      rootHash: checkpoint.rootHash,
      envelopeDigest: sha256Digest(checkpoint.envelope),
      timestampToken: Buffer.from(response.token).toString('base64'),
    };
  }

  /** POSTs the query; what a TSA that does not answer looks like is CAIRN_ANCHOR_UNAVAILABLE. */
  async #post(query: Uint8Array): Promise<Uint8Array> {
    let response: Response;
    try {
      response = await fetch(this.#location, {
        method: 'POST',
        headers: {
          'content-type': timestampQueryType,
          accept: timestampReplyType,
          ...(this.#authorization === undefined ? {} : { authorization: this.#authorization }),
        },
        body: query,
        signal: AbortSignal.timeout(this.settings.timeoutMs),
        redirect: 'error',
      });
    } catch (error) {
      const reason = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${this.settings.timeoutMs} ms` : describeFetchError(error);
      throw this.#unavailable(`the TSA did not answer: ${reason}`, error);
    }
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      await response.body?.cancel();
      throw this.#unavailable(`the TSA answered HTTP ${response.status}`);
    }
    if (response.status !== 200) {
      await response.body?.cancel();
      throw this.#refused(`the TSA answered HTTP ${response.status}; check the url (the TSA's RFC 3161 endpoint)`);
    }
    const type = response.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase();
    // Some TSAs still answer with the media type of RFC 3161's drafts; the body is checked anyway.
    if (type !== timestampReplyType && type !== 'application/timestamp-response') {
      await response.body?.cancel();
      throw this.#refused(`the TSA answered ${type ?? 'no content type'}, not ${timestampReplyType}; check the url (the TSA's RFC 3161 endpoint)`);
    }
    const declared = Number(response.headers.get('content-length') ?? 0);
    if (declared > maximumReplyBytes) {
      await response.body?.cancel();
      throw this.#refused(`its reply is ${declared} bytes, more than a TSA reply (${maximumReplyBytes})`);
    }
    try {
      const body = new Uint8Array(await response.arrayBuffer());
      if (body.length > maximumReplyBytes) throw this.#refused(`its reply is ${body.length} bytes, more than a TSA reply (${maximumReplyBytes})`);
      return body;
    } catch (error) {
      if (isCairnError(error)) throw error;
      throw this.#unavailable(`the TSA's reply was cut off: ${describeFetchError(error)}`, error);
    }
  }

  #unavailable(reason: string, cause?: unknown): CairnError {
    return new CairnError(
      'CAIRN_ANCHOR_UNAVAILABLE',
      `[cairn] [rfc3161] ${this.#location}: ${reason}. The checkpoint stays queued and is stamped when the TSA answers again.`,
      { details: { url: this.#location }, ...(cause === undefined ? {} : { cause }) },
    );
  }

  #refused(reason: string, cause?: unknown): CairnError {
    return new CairnError(
      'CAIRN_TIMESTAMP_REFUSED',
      `[cairn] [rfc3161] ${this.#location}: ${reason}. The reply is not accepted; the checkpoint stays queued. Check that url and trustedCertificate name the same TSA.`,
      { details: { url: this.#location }, ...(cause === undefined ? {} : { cause }) },
    );
  }
}

/** An RFC 3161 anchor; throws CAIRN_CONFIG_INVALID naming `rfc3161.<option>` for bad settings. */
export function createRfc3161Anchor(settings: Rfc3161AnchorSettings): Rfc3161Anchor {
  return new Rfc3161Anchor(settings);
}

function certificateProblem(pem: string): string | undefined {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem);
  } catch (error) {
    return `is not a PEM X.509 certificate (${(error as Error).message})`;
  }
  if (!certificate.keyUsage?.includes(timeStampingUsage))
    return `names ${certificate.subject.replaceAll('\n', ', ')}, which is not allowed to timestamp (no timeStamping extended key usage): give the TSA's signing certificate`;
  return undefined;
}

function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
}
