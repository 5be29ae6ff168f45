// A warm sandbox's worker starts before its attempt exists (ADR 0051, step 3): the agent-sandbox
// controller started its pod from the operator's SandboxTemplate when the pool warmed it, so the
// attempt can only reach it as metadata. The executor's SandboxClaim carries the attempt's identity
// as annotations (`additionalPodMetadata`), the controller patches them onto the running pod, and the
// kubelet rewrites the pod's downwardAPI volume file of `metadata.annotations`. This mode waits for
// that file to name an attempt, then hands the worker the same variables the pod path sets.
import { readFile } from 'node:fs/promises';
import { CairnError } from '@cairn/protocol';
import { taskEnvironmentNames } from '../executor/task-environment.ts';

/** The pod annotations a claimed sandbox's attempt arrives in: none is secret (the secrets stay sealed in storage). */
export const claimedAttemptAnnotations = {
  executionId: 'cairn.dev/execution-id',
  manifestDigest: 'cairn.dev/manifest-digest',
  /** The storage key of the attempt's sealed secrets and gateway credential, when it has any. */
  sealedSecrets: 'cairn.dev/sealed-secrets',
  gatewayUrl: 'cairn.dev/model-gateway-url',
  traceparent: 'cairn.dev/traceparent',
  tracestate: 'cairn.dev/tracestate',
} as const;

/** The variables of the wait mode, set in the operator's SandboxTemplate. */
export const claimWaitEnvironmentNames = {
  /** The downwardAPI volume file holding `metadata.annotations`; set, the worker waits for its attempt there. */
  annotationsFile: 'CAIRN_ATTEMPT_ANNOTATIONS_FILE',
  /** How long a warm worker waits to be claimed before it exits (the pool warms another); 3600 s by default. */
  waitSeconds: 'CAIRN_ATTEMPT_WAIT_SECONDS',
} as const;

const defaultWaitSeconds = 3_600;

/** The annotation each task variable comes from. */
const fromAnnotation: readonly (readonly [string, string])[] = [
  [taskEnvironmentNames.executionId, claimedAttemptAnnotations.executionId],
  [taskEnvironmentNames.manifestDigest, claimedAttemptAnnotations.manifestDigest],
  [taskEnvironmentNames.sealedSecrets, claimedAttemptAnnotations.sealedSecrets],
  [taskEnvironmentNames.gatewayUrl, claimedAttemptAnnotations.gatewayUrl],
  [taskEnvironmentNames.traceparent, claimedAttemptAnnotations.traceparent],
  [taskEnvironmentNames.tracestate, claimedAttemptAnnotations.tracestate],
];

/** Options of `awaitClaimedAttempt`; the poll interval is for tests. */
export interface ClaimWaitOptions {
  readonly signal?: AbortSignal | undefined;
  readonly pollMs?: number;
}

/**
 * The task environment once this sandbox is claimed: `env` with the attempt's variables taken from
 * the annotations file (`CAIRN_ATTEMPT_ANNOTATIONS_FILE`), read every `pollMs` until it names an
 * execution id and a manifest digest. The file is the kubelet's (it swaps it whole), so a read is
 * never half a write. Throws CAIRN_CONFIG_INVALID naming the variable when the environment sets an
 * attempt itself as well (one source only), the wait is not a number, no attempt came within it, or
 * the wait was aborted (the pod stopped unclaimed).
 */
export async function awaitClaimedAttempt(
  env: Readonly<Record<string, string | undefined>>,
  options: ClaimWaitOptions = {},
): Promise<Record<string, string | undefined>> {
  const file = env[claimWaitEnvironmentNames.annotationsFile]!;
  const given = fromAnnotation.map(([variable]) => variable).find((variable) => (env[variable] ?? '') !== '');
  if (given !== undefined) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `[cairn] [cairn-worker] ${claimWaitEnvironmentNames.annotationsFile} is set, so the attempt comes from the pod's annotations, and ${given} is set too: remove ${given} from the SandboxTemplate's container.`,
      { path: given },
    );
  }
  const waitText = env[claimWaitEnvironmentNames.waitSeconds] ?? '';
  const waitSeconds = waitText === '' ? defaultWaitSeconds : Number(waitText);
  if (!Number.isInteger(waitSeconds) || waitSeconds < 1) {
    throw new CairnError(
      'CAIRN_CONFIG_INVALID',
      `[cairn] [cairn-worker] ${claimWaitEnvironmentNames.waitSeconds} must be a whole number of seconds, at least 1 (it is ${JSON.stringify(waitText)}).`,
      { path: claimWaitEnvironmentNames.waitSeconds },
    );
  }
  const deadline = Date.now() + waitSeconds * 1_000;
  const pollMs = options.pollMs ?? 250;
  for (;;) {
    const annotations = await readAnnotations(file);
    const executionId = annotations[claimedAttemptAnnotations.executionId];
    const manifestDigest = annotations[claimedAttemptAnnotations.manifestDigest];
    // The controller patches both in one update; a file with one of them is waited past all the same.
    if (executionId && manifestDigest) {
      const attempt = Object.fromEntries(fromAnnotation.map(([variable, annotation]) => [variable, annotations[annotation]]));
      return { ...env, ...attempt };
    }
    if (options.signal?.aborted) {
      throw new CairnError('CAIRN_CONFIG_INVALID', '[cairn] [cairn-worker] stopped while waiting to be claimed: no attempt ran in this sandbox.', {
        path: claimWaitEnvironmentNames.annotationsFile,
      });
    }
    if (Date.now() >= deadline) {
      throw new CairnError(
        'CAIRN_CONFIG_INVALID',
        `[cairn] [cairn-worker] no attempt claimed this sandbox within ${waitSeconds} s: ${file} never named a ${claimedAttemptAnnotations.executionId} and a ${claimedAttemptAnnotations.manifestDigest}. The pool warms another sandbox; raise ${claimWaitEnvironmentNames.waitSeconds} in the SandboxTemplate if claims come later than that, or check that the volume maps metadata.annotations to that file.`,
        { path: claimWaitEnvironmentNames.waitSeconds },
      );
    }
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())), options.signal);
  }
}

/** The annotations in a downwardAPI file (missing yet: none): `key="value"` lines, sorted, each value quoted as Go's %q quotes it. */
export async function readAnnotations(file: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CairnError('CAIRN_CONFIG_INVALID', `[cairn] [cairn-worker] ${file} cannot be read: ${String(error)}`, {
      path: claimWaitEnvironmentNames.annotationsFile,
      cause: error,
    });
  }
  return parseDownwardAnnotations(text);
}

/** Parses the kubelet's rendering of a label or annotation map (fieldpath.FormatMap): lines of `key=%q`. */
export function parseDownwardAnnotations(text: string): Record<string, string> {
  const annotations: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const equals = line.indexOf('=');
    if (equals < 1) continue;
    annotations[line.slice(0, equals)] = unquoteGo(line.slice(equals + 1));
  }
  return annotations;
}

const simpleEscapes: Readonly<Record<string, string>> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"' };

/** strconv.Unquote of a double-quoted Go literal: \xNN are bytes of UTF-8, \u and \U code points. */
function unquoteGo(quoted: string): string {
  if (quoted.length < 2 || !quoted.startsWith('"') || !quoted.endsWith('"')) return quoted;
  const body = quoted.slice(1, -1);
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  for (let index = 0; index < body.length;) {
    const character = body[index]!;
    if (character !== '\\') {
      const point = body.codePointAt(index)!;
      const text = String.fromCodePoint(point);
      bytes.push(...encoder.encode(text));
      index += text.length;
      continue;
    }
    const kind = body[index + 1] ?? '';
    if (kind in simpleEscapes) {
      bytes.push(...encoder.encode(simpleEscapes[kind]));
      index += 2;
    } else if (kind === 'x') {
      bytes.push(Number.parseInt(body.slice(index + 2, index + 4), 16));
      index += 4;
    } else if (kind === 'u' || kind === 'U') {
      const digits = kind === 'u' ? 4 : 8;
      bytes.push(...encoder.encode(String.fromCodePoint(Number.parseInt(body.slice(index + 2, index + 2 + digits), 16))));
      index += 2 + digits;
    } else {
      bytes.push(...encoder.encode(character));
      index += 1;
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function sleep(milliseconds: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, milliseconds);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
