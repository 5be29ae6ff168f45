import type { AttemptFailure } from './attempt-failure.ts';
import type { Digest } from './digest.ts';
import type { ExecutionOutcome } from './execution.ts';

/** The artifacts of one attempt, each stored by digest. */
export interface ResultArtifacts {
  /** `git diff --binary` against the baseline; absent when the workspace did not change. */
  readonly patch?: Digest;
  readonly stdout: Digest;
  readonly stderr: Digest;
  /** `output.json` written by the runtime, when it wrote one. */
  readonly output?: Digest;
  /** The egress record (NDJSON, one connection a line) of an allow-listed network (ADR 0049). */
  readonly egress?: Digest;
  /** The log of the setup of the warm environment laid under the workspace (ADR 0056), whichever attempt ran it. */
  readonly environmentLog?: Digest;
  /** The egress record (NDJSON) of that setup's own proxy, when it ran behind the item's allow-list (ADR 0056). */
  readonly environmentEgress?: Digest;
}

/** The warm environment an attempt's workspace was laid over (ADR 0056). */
export interface AttemptEnvironment {
  /** The environment's digest: its key (the key files' contents, the setup argv, the base). */
  readonly digest: Digest;
  /** Whether this attempt ran the setup (the host had no layer of the key) or reused one. */
  readonly built: boolean;
  /** How long the setup took, in milliseconds, when it ran (for this attempt or an earlier one). */
  readonly setupMs: number;
}

/** Size of a patch, for review lists. */
export interface PatchStats {
  readonly filesChanged: number;
  readonly bytes: number;
}

/**
 * A disk limit of the attempt's that refused at least one write for lack of room (ENOSPC or
 * EDQUOT), whatever the attempt's outcome: an item that filled its /tmp, freed it and exited 0
 * succeeded, and its result still says the limit was reached. Hosts that bound an attempt's disk
 * report it (the local executor's sandboxes); absent where nothing was refused or nothing is watched.
 */
export interface LimitHit {
  /**
   * Which file system refused: the attempt's workspace, its /tmp, or `workspace-or-tmp` for
   * refusals that were counted but could not be put down to either.
   */
  readonly limit: 'workspace' | 'tmp' | 'workspace-or-tmp';
  /** How many writes or file creations were refused for lack of room (at least this many). */
  readonly refusedWrites: number;
  /** The limit in bytes (of the two, when `workspace-or-tmp`: the smaller). */
  readonly limitBytes: number;
  /** What happened and which setting raises the limit, for people. */
  readonly message: string;
}

/**
 * A storage operation of the attempt's that waited for the storage to come back (an outage waited
 * out within the storage's outage budget, retried with backoff): the platform's fault, not the
 * item's, which did not spend an attempt on it.
 */
export interface StorageWait {
  /** From its first try to the one that went through (or the last). */
  readonly waitedMs: number;
  readonly retries: number;
  /** Why it waited: the first failure's words (`ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:7480`). */
  readonly reason: string;
}

/**
 * What an allow-listed attempt's egress proxy saw (ADR 0049), for the item's history: the whole
 * record is the `egress` artifact.
 */
export interface EgressSummary {
  /** Connections (tunnels and plain requests) the proxy admitted. */
  readonly allowed: number;
  /** Connections it refused or cut. */
  readonly refused: number;
  /** The first refusals (twenty at most), each with the allow entry that would admit it when one could. */
  readonly refusals: readonly EgressRefusal[];
  /** Credential misuse the proxy saw: a placeholder sent to a host it is not bound to (names and hosts, never values). */
  readonly flagged: readonly string[];
}

/** One connection the egress proxy refused or cut. */
export interface EgressRefusal {
  readonly host: string;
  readonly port: number;
  /** A reason from a closed set (`not-allowed`, `address-forbidden`, `sni-mismatch`, ...). */
  readonly reason: string;
  readonly message: string;
  /** The allow entry that would admit it (`registry.npmjs.org`), null when none could (an IP literal, a private address). */
  readonly wouldAdmit: string | null;
}

/**
 * What a worker reports for one attempt, written to storage as canonical JSON at
 * `results/<executionId>.json`. The engine accepts it only with the attempt's current fencing
 * token and the digest of the manifest it ran.
 */
export interface ResultRecord {
  readonly version: 'cairn.result/v1';
  readonly runId: string;
  readonly itemId: string;
  readonly attempt: number;
  readonly fencingToken: number;
  readonly executionId: string;
  readonly manifestDigest: Digest;
  readonly outcome: ExecutionOutcome;
  /** The runtime's exit code; null when it was killed by a signal or never started. */
  readonly exitCode: number | null;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly artifacts: ResultArtifacts;
  readonly patchStats?: PatchStats;
  /** Why the attempt did not succeed, whenever it did not (failed, timed out, cancelled). */
  readonly failure?: AttemptFailure;
  /** Disk limits that refused a write during the attempt, though it went on (see LimitHit). */
  readonly limitsHit?: readonly LimitHit[];
  /** What the egress proxy of an allow-listed network admitted and refused (see EgressSummary). */
  readonly egress?: EgressSummary;
  /** Storage operations that waited for an outage to end, longest first, ten at most (see StorageWait). */
  readonly storageWaits?: readonly StorageWait[];
  /** A candidate's check over its patch (ADR 0053); absent when the attempt is no candidate, failed or left no patch. */
  readonly check?: CandidateCheckResult;
  /** The warm environment the workspace was laid over, when the item has one (ADR 0056). */
  readonly environment?: AttemptEnvironment;
}

/** What a candidate's check said: exit 0 passes, a number on its last stdout line is the score. */
export interface CandidateCheckResult {
  readonly passed: boolean;
  /** The check's exit code; null when it was killed (its timeout) or could not start. */
  readonly exitCode: number | null;
  readonly score: number | null;
  /** The end of its output (stdout, then stderr), for the round's summary: 2,000 characters at most. */
  readonly tail: string;
}
