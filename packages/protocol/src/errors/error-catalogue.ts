/**
 * The closed catalogue of Cairn error codes. Every error Cairn raises carries one of these codes;
 * a code never changes meaning once published (a new meaning gets a new code). `status` is the
 * HTTP status the reference server answers with; `action` is what the person who sees the error
 * should do. docs/reference/errors.md is kept equal to this table by a test.
 */
export const errorCatalogue = {
  CAIRN_RUN_SPEC_INVALID: {
    status: 400,
    summary: 'The run spec does not match cairn.run/v1 or its item graph is not a valid DAG.',
    action: 'Fix each listed issue at its JSON path and submit again; `cairn validate` shows them all at once.',
  },
  CAIRN_RUN_SPEC_UNPARSABLE: {
    status: 400,
    summary: 'The run spec is not well-formed YAML or JSON.',
    action: 'Fix the syntax at the reported line and column.',
  },
  CAIRN_RUN_SPEC_TOO_LARGE: {
    status: 413,
    summary: 'The run spec exceeds a size limit (bytes, items, nesting depth, string or list length).',
    action: 'Split the run into smaller runs or shorten the named field; the limit is in the message.',
  },
  CAIRN_UPLOAD_TOO_LARGE: {
    status: 413,
    summary: 'An upload (a workspace snapshot, or another blob) is larger than the server takes (server.uploadLimitMiB); nothing was stored.',
    action:
      'Make the workspace smaller (leave build output and dependencies out: a snapshot of a git work tree skips ignored files), or raise server.uploadLimitMiB in the server config.',
  },
  CAIRN_REQUEST_HEADERS_TOO_LARGE: {
    status: 431,
    summary: "A request's headers (cookies, a long header value) are larger than the server takes (16 KiB in all).",
    action: 'Send shorter headers: drop the cookies and headers the server does not read; a bearer token and a content type are all the API needs.',
  },
  CAIRN_REQUEST_TIMED_OUT: {
    status: 408,
    summary: 'A request did not arrive in time: its headers or its whole body took longer than server.timeouts allows.',
    action: 'Retry over a faster connection, or raise server.timeouts.headers or server.timeouts.request in the server config.',
  },
  CAIRN_SERVER_BUSY: {
    status: 503,
    summary: 'The server holds as many connections as it takes (server.maxConnections, below its file-descriptor limit) and refused this one.',
    action:
      'Retry in a moment; close idle connections the client keeps open, or raise server.maxConnections together with the limit on open files (ulimit -n).',
  },
  CAIRN_PAYLOAD_INVALID: {
    status: 400,
    summary: 'A message crossing a process boundary (manifest, result record, event, handle) does not match its schema.',
    action: 'The sender and receiver disagree on the protocol: check that both run compatible Cairn versions.',
  },
  CAIRN_CONFIG_INVALID: {
    status: 500,
    summary: 'Settings given to a package, or the server configuration, are invalid.',
    action: 'Fix the named option; every problem is listed at once.',
  },
  CAIRN_JSON_NOT_CANONICALIZABLE: {
    status: 400,
    summary: 'A value cannot be written as canonical JSON (RFC 8785): a non-finite number, a lone surrogate, a cycle, or a non-JSON type.',
    action: 'Pass plain JSON data: finite numbers, well-formed strings, arrays and plain objects.',
  },
  CAIRN_DIGEST_INVALID: {
    status: 400,
    summary: 'A digest is not of the form sha256:<64 lowercase hex digits>.',
    action: 'Pass the digest exactly as Cairn printed it.',
  },
  CAIRN_DIGEST_MISMATCH: {
    status: 422,
    summary: 'Content does not hash to the digest it is stored or referenced under.',
    action: 'The content was altered or corrupted; fetch it again from a trusted source.',
  },
  CAIRN_DURATION_INVALID: {
    status: 400,
    summary: 'A duration is not a positive whole number followed by ms, s, m, h or d (for example 10m).',
    action: 'Write durations like 500ms, 30s, 10m, 2h or 1d.',
  },
  CAIRN_LIFECYCLE_TRANSITION_INVALID: {
    status: 409,
    summary: 'A run, item or attempt was asked to move between two states that its lifecycle does not connect.',
    action: 'Read the current state first; terminal states are final.',
  },
  CAIRN_STORAGE_KEY_INVALID: {
    status: 400,
    summary: 'A storage key is empty, absolute, contains `.`/`..` segments, backslashes or control characters, or is too long.',
    action: 'Use relative keys of non-empty segments separated by `/`.',
  },
  CAIRN_STORAGE_LIST_INVALID: {
    status: 400,
    summary: 'A storage list request has an invalid limit or a cursor this provider did not issue.',
    action: 'Pass a limit between 1 and 1000 and only cursors returned by the previous page.',
  },
  CAIRN_STORAGE_UNAVAILABLE: {
    status: 503,
    summary: 'The storage provider could not be reached or refused the operation.',
    action: 'Check the storage location, its credentials and its permissions; the cause is attached.',
  },
  CAIRN_STORAGE_UNSUPPORTED: {
    status: 503,
    summary:
      'The storage backend lacks a guarantee Cairn needs (a conditional write it does not enforce, encryption it did not apply), so Cairn refuses to use it rather than degrade.',
    action: 'Use a backend that provides it (the message names the endpoint, the bucket and the likely cause), or change the setting that asks for it.',
  },
  CAIRN_ENGINE_STORAGE_FULL: {
    status: 503,
    summary: "The disk under the engine's database is full: the write was rolled back, dispatch is paused and `/readyz` answers 503.",
    action: 'Free space on the volume of the data directory (or grow it); the engine resumes by itself. Retry the request then.',
  },
  CAIRN_STATE_UNAVAILABLE: {
    status: 503,
    summary:
      "The engine's state database (PostgreSQL) could not be reached, the connection the engine writes with was lost, or no engine holds the writer lease to carry out a command.",
    action:
      'Check that the database answers at the named host, port and database and that its user and password are right; a lost lease is taken again by a replica on its own. The cause is attached.',
  },
  CAIRN_STATE_CONFLICT: {
    status: 409,
    summary:
      "The engine's state database holds writes this engine did not make (its audit sequence does not continue where the engine's does), so the engine refuses to commit rather than leave a gap or a fork.",
    action: 'Another writer changed the database: stop every other engine on it, then restart this one so that it loads the stored state again.',
  },
  CAIRN_LOCK_HELD: {
    status: 503,
    summary:
      'Another process holds a lock this one needs: the data directory (another cairn serve on it), or the token file (the server or a cairn token command changing the tokens) past the wait.',
    action:
      'Wait for the process the message names to finish, or stop it, then try again. Removing a lock file frees nothing: the lock ends with the process that holds it.',
  },
  CAIRN_EXECUTOR_HANDLE_INVALID: {
    status: 400,
    summary: 'An execution handle was not issued by this executor or is malformed.',
    action: 'Pass the handle exactly as the executor returned it from start().',
  },
  CAIRN_EXECUTOR_START_FAILED: {
    status: 502,
    summary: 'The executor could not start the task.',
    action: 'Read the attached cause (missing sandbox tool, capacity, credentials) and retry.',
  },
  CAIRN_EXECUTOR_UNAVAILABLE: {
    status: 503,
    summary: 'The executor could not be reached to inspect or cancel a task.',
    action: 'Check the executor backend; the engine retries inspection on its reconcile loop.',
  },
  CAIRN_RUNNER_VERSION: {
    status: 409,
    summary: "A runner of another minor version polled the server: it could misread the server's leases, so it is given none.",
    action: "Install the runner of the version the message names on that host (the server's), then start it again.",
  },
  CAIRN_RUNTIME_FAILED: {
    status: 502,
    summary: 'A runtime adapter could not run the command or agent (not found, crashed before start).',
    action: 'Check the runtime spec (argv, adapter name) and that the program exists in the sandbox.',
  },
  CAIRN_EXIT_NONZERO: {
    status: 422,
    summary: "An item's command or agent ran and exited with a non-zero code: the attempt failed.",
    action: "Read the end of its stderr in the failure (`cairn status <runId>`) or its whole log, and fix the command, the agent's task or the workspace.",
  },
  CAIRN_MERGE_CONFLICT: {
    status: 409,
    summary:
      "A merge item's producer changed what the patches merged before it changed too: git's three-way merge left conflicting hunks, or one of them deleted, added or replaced a path the other changed. The attempt failed and merged nothing.",
    action:
      "Read the producer, the paths and the hunks in the failure (`cairn status <runId>`; every hunk in the item's stderr log). Make the producers change different lines, or have the later one build on the earlier (needs its patch and applies it, listed after it in runtime.from), then run again.",
  },
  CAIRN_CANDIDATES_NONE_PASSED: {
    status: 422,
    summary:
      "No candidate of a best-of-N round passed its item's check (select.check): each failed, left no patch, or left one the check failed. The round failed; the failure lists every candidate's outcome and the end of its check's output.",
    action:
      "Read each candidate's check summary in the failure (`cairn status <runId>`). With retries left the next round starts fresh, given that summary as the input previous-candidates; otherwise fix the task, the check or the workspace and run again.",
  },
  CAIRN_ATTEMPT_KILLED: {
    status: 422,
    summary: "An item's command or agent was ended by a signal Cairn did not send (out of memory, a resource limit, a crash).",
    action: 'Check the signal in the failure and the end of its stderr; raise the resource limit or make the work smaller.',
  },
  CAIRN_ATTEMPT_MEMORY_EXCEEDED: {
    status: 422,
    summary: "An item's sandbox reached its memory limit and the kernel killed a process of it: the attempt failed.",
    action:
      "Raise the executor's memory limit the failure names (the local executor's `limits.memoryBytes`, `executor.limits.memoryBytes` in the server config), or make the work use less memory.",
  },
  CAIRN_ATTEMPT_DISK_EXCEEDED: {
    status: 422,
    summary: "An item filled its workspace or its /tmp up to the executor's disk limit: the attempt was stopped and failed.",
    action:
      "Raise the limit the failure names (the local executor's `limits.workspaceBytes` or `limits.tmpBytes`, under `executor.limits` in the server config), or make the item write less there.",
  },
  CAIRN_ATTEMPT_HOST_DISK_FULL: {
    status: 507,
    summary:
      "The disk holding an item's workspace (the local executor's work root) is full: before the item ran, its attempt waits for room; once it ran, what it wrote into its workspace could not be stored, so the attempt was stopped and failed.",
    action:
      "Free space on the disk the failure names (the local executor's `workRoot`, `executor.workRoot` in the server config, by default in the data directory) or move the work root to a larger disk, then run the item again.",
  },
  CAIRN_ENVIRONMENT_SETUP_FAILED: {
    status: 422,
    summary:
      "An item's environment setup (its `environment.setup`, run once per host and key) exited with an error: the items needing that environment failed with the setup's log.",
    action:
      'Read the log the failure carries, fix the setup command or what it installs (the key files, the registry in the egress allow-list), and run the items again; a failed setup is tried again after 5 minutes.',
  },
  CAIRN_ENVIRONMENT_SETUP_TIMED_OUT: {
    status: 504,
    summary: "An item's environment setup ran past its `environment.timeoutSeconds` and was stopped: the items needing that environment failed.",
    action: "Raise the environment's `timeoutSeconds` in the run spec (900 by default), or make the setup faster.",
  },
  CAIRN_ENVIRONMENT_DISK_EXCEEDED: {
    status: 422,
    summary: "An item's environment setup filled its `environment.diskLimit`: it was stopped and the items needing that environment failed.",
    action: "Raise the environment's `diskLimit` in the run spec (4GiB by default), or make the setup write less.",
  },
  CAIRN_ATTEMPT_TIMED_OUT: {
    status: 504,
    summary: "An attempt ran past its item's timeout and was stopped.",
    action: "Raise the item's `timeout` (or `defaults.timeout`) in the run spec, or make the work faster.",
  },
  CAIRN_ATTEMPT_STALLED: {
    status: 504,
    summary: "An attempt made no model call and wrote no output for its item's `stallTimeout`: it was taken for stuck and stopped.",
    action: "Read its last activity in the failure and the end of its log; raise the item's `stallTimeout` if the work is slow rather than stuck.",
  },
  CAIRN_BUDGET_EXCEEDED: {
    status: 402,
    summary:
      "An item's model calls reached its `budget` (US dollars or tokens, as the model gateway metered them): its next call was refused and the attempt ended.",
    action: "Read the spend in the failure (`cairn status <runId>`); raise the item's `budget` and run it again, or make the task smaller.",
  },
  CAIRN_MODEL_NOT_ALLOWED: {
    status: 403,
    summary: "A model call through the gateway named a model its attempt may not use, or came with a credential that is not (or no longer) an attempt's.",
    action:
      "Name the model in the item (`runtime.model`) or in the gateway's `models` for the adapter; a credential is valid only for its own attempt while it runs.",
  },
  CAIRN_MODEL_QUOTA_FULL: {
    status: 429,
    summary: "A model call waited for room under a provider quota (`gateway.quotas`) for the gateway's longest wait and was refused.",
    action:
      'Nothing to fix for one call (the agent retries); if it recurs, raise the quota, lower how many agent items run at once, or raise gateway.maxQuotaWaitMs.',
  },
  CAIRN_MODEL_PROVIDER_FAILED: {
    status: 502,
    summary: 'The model gateway could not reach the provider, or the provider answered with an error it passed on.',
    action: "Check the provider's status and the gateway's provider settings (`gateway.providers` in the server config: baseUrl, apiKeySecret).",
  },
  CAIRN_ATTEMPT_CANCELLED: {
    status: 409,
    summary: 'An attempt was stopped because its run or item was cancelled.',
    action: 'Nothing to fix: submit the run again if the work is still wanted.',
  },
  CAIRN_ATTEMPT_LOST: {
    status: 503,
    summary: "The executor no longer knows an attempt's task (its host, or the process that ran it, is gone); it ended without a result.",
    action: "Check the executor's host; the engine re-runs lost attempts (the item's `onLost`) up to a bound.",
  },
  CAIRN_APPROVAL_REJECTED: {
    status: 409,
    summary: 'An item awaiting approval was rejected; it failed without running, and what depends on it was skipped.',
    action: 'Read the reason in the failure; change the run and submit it again if the work is still wanted.',
  },
  CAIRN_APPROVAL_NOT_ALLOWED: {
    status: 403,
    summary:
      "A vote on an item under an approval policy came from someone the policy does not count: the run's submitter, with any of their tokens (the policy has selfApproval: false), or a person with none of the roles or groups its `from` names.",
    action: 'Ask an approver the policy counts (the message names its roles and groups); the item keeps waiting.',
  },
  CAIRN_APPROVAL_DUPLICATE: {
    status: 409,
    summary:
      'A person voted a second time on an item under an approval policy, with the same token or another of theirs (tokens of one principal are one approver): each approver counts once.',
    action: 'Ask another approver the policy counts; the message says how many approvals the item still needs.',
  },
  CAIRN_APPROVAL_TIMED_OUT: {
    status: 408,
    summary: "No one approved an item awaiting approval within the engine's approval timeout; it failed without running.",
    action: "Submit the run again and approve the item in time (`cairn approve <runId> <itemId>`), or raise the server's approval timeout.",
  },
  CAIRN_SECRET_UNAVAILABLE: {
    status: 422,
    summary: 'A secret an item names could not be handed to its task: it was removed, it does not decrypt, or no secret store is configured.',
    action: "Set the secret again (`cairn secret set NAME`) with the server's current cipher key, then submit the run again.",
  },
  CAIRN_SIGNER_FAILED: {
    status: 502,
    summary: 'The signer could not sign or could not load its key.',
    action: 'Check the key file permissions (0600) or the KMS key policy; the cause is attached.',
  },
  CAIRN_SIGNATURE_INVALID: {
    status: 422,
    summary: 'A signature does not verify with the expected public key, or the signed envelope is malformed.',
    action: 'The signed data was altered or signed by another key; do not trust it.',
  },
  CAIRN_CIPHER_DECRYPT_FAILED: {
    status: 422,
    summary: 'A ciphertext did not decrypt: it was altered, or the context or key differs from encryption.',
    action: 'Decrypt with the same key and exactly the same context used to encrypt.',
  },
  CAIRN_CIPHER_UNAVAILABLE: {
    status: 503,
    summary: "The cipher's key service (KMS) could not encrypt or decrypt: the key is disabled, missing or not permitted, or KMS did not answer.",
    action:
      'Follow the fix in the message (enable the key, grant kms:GenerateDataKey and kms:Decrypt, check keyId, region and endpoint); the KMS error is attached.',
  },
  CAIRN_ANCHOR_CONFLICT: {
    status: 409,
    summary: 'An anchor already holds a different checkpoint for the same origin and tree size (equivocation).',
    action: 'Treat the log as compromised and investigate; never overwrite an anchored checkpoint.',
  },
  CAIRN_ANCHOR_TAMPERED: {
    status: 422,
    summary: 'An anchored checkpoint read back does not match what was anchored.',
    action: 'The anchor location was modified outside Cairn; investigate before trusting the log.',
  },
  CAIRN_ANCHOR_UNAVAILABLE: {
    status: 503,
    summary: 'The anchor could not be written or read.',
    action: 'Checkpoints stay queued and are anchored when it recovers; check its location and credentials.',
  },
  CAIRN_TIMESTAMP_REFUSED: {
    status: 502,
    summary:
      'A timestamp authority (RFC 3161) answered with something Cairn does not accept: a status other than granted, or a token that does not verify against the trusted TSA certificate, stamps another hash or another checkpoint, or does not echo the request nonce.',
    action:
      "Check that the anchor's url and trustedCertificate name the same TSA and that it accepts SHA-256 requests; the checkpoint stays queued and is stamped once the TSA's replies verify.",
  },
  CAIRN_FORGE_REQUEST_INVALID: {
    status: 400,
    summary:
      'A delivery to a forge names something it cannot use: a branch name git refuses, a base that is not a full commit id, an evidence digest or run id that cannot be written as a commit trailer.',
    action: 'Fix the named field; nothing was sent to the forge.',
  },
  CAIRN_FORGE_PATCH_INVALID: {
    status: 422,
    summary: "A delivery's base commit is not on the forge, or its patch does not apply to that commit.",
    action:
      'Push the base commit to the forge first, or deliver a patch captured against a commit the forge has; the message names the path git could not apply.',
  },
  CAIRN_FORGE_CONFLICT: {
    status: 409,
    summary:
      'The branch on the forge no longer points where the delivery expected (someone pushed to it, or another delivery did), or another run delivered it and this run may not take it over: it was left as it is.',
    action:
      "Look at what was pushed to the branch; deliver again with its current tip as the expected tip to replace it, or to another branch to keep it. A run replaces another run's branch only when its deliver item says takeOver: true and its submitter holds the branches:take-over scope.",
  },
  CAIRN_FORGE_PATH_PROTECTED: {
    status: 403,
    summary:
      "A delivery's patch changes a path its forge protects (what the forge runs as configuration, such as CI workflows), and the forge's config refuses such patches: nothing was pushed.",
    action:
      'Deliver a patch that leaves the named paths alone, or let a person push it; an operator can flag such patches instead (forges.NAME.protectedPaths.action: flag) or change the paths (forges.NAME.protectedPaths.paths).',
  },
  CAIRN_FORGE_UNAUTHORIZED: {
    status: 502,
    summary: 'The forge refused the credentials: a wrong, expired or revoked token, or one without permission to push to the repository.',
    action: "Check the forge's token (the secret its settings name) and that it may write to the repository; the message names the remote, never the token.",
  },
  CAIRN_FORGE_UNAVAILABLE: {
    status: 503,
    summary: 'The forge could not be reached, timed out or failed on its side.',
    action: "Retry later; check the remote's address and the network between Cairn and the forge. Nothing was changed on the forge.",
  },
  CAIRN_TRIGGER_REPLY_FAILED: {
    status: 502,
    summary:
      "A trigger's reply to where a run came from (a comment on a Linear issue, a Slack message) was refused by that service or could not reach it: a wrong or revoked token, one without the scope to write there, or the service unreachable. The run itself is unaffected.",
    action:
      "Check the token the trigger's tokenSecret names (Linear: an API key that may comment; Slack: a bot token with chat:write, invited to the channel) and that the server reaches the service's apiUrl; the message names the service's answer, never the token.",
  },
  CAIRN_AUDIT_PROOF_INVALID: {
    status: 422,
    summary: 'A Merkle inclusion or consistency proof is malformed or does not verify.',
    action: 'The proof, the leaf or the root was altered; do not trust the entry it was meant to prove.',
  },
  CAIRN_AUDIT_LOG_CORRUPT: {
    status: 500,
    summary: 'The audit log store is inconsistent with its own tree (missing nodes, or a root that does not recompute).',
    action: 'Stop writing, restore the log store from backup and verify it against the latest anchored checkpoint.',
  },
  CAIRN_BUNDLE_INVALID: {
    status: 422,
    summary: 'An evidence bundle is not a well-formed cairn.bundle/v1 document.',
    action: 'Export the bundle again; a bundle is a single JSON document and must not be edited.',
  },
  CAIRN_INTERNAL: {
    status: 500,
    summary: 'The server failed in a way no other code describes; the details are in its log, never in the answer.',
    action: 'Try again; if it persists, report it with the time it happened (the server log holds the details).',
  },
  CAIRN_SERVER_UNREACHABLE: {
    status: 503,
    summary: 'A client could not connect to the Cairn server at the URL it names (refused, timed out or no such host); no server answered.',
    action: 'Check that `cairn serve` runs there, and the URL (`--server`, CAIRN_SERVER or the current context: `cairn context list`).',
  },
  CAIRN_UNAUTHENTICATED: {
    status: 401,
    summary: 'No credential was given, or it is unknown, expired or revoked.',
    action: 'Send a valid bearer token (`cairn token create`).',
  },
  CAIRN_IDENTITY_PROVIDER_UNAVAILABLE: {
    status: 503,
    summary:
      "The identity provider (server.oidc.issuer) could not be reached for its discovery document or its signing keys, or answered with an error: people cannot sign in through it and its JWTs cannot be checked until it answers. Cairn's own tokens still work.",
    action:
      'Check that the issuer URL in the message (and its jwksUri, if set) is right and that the provider answers from the server (its status, the network, a proxy, TLS); then try again.',
  },
  CAIRN_FORBIDDEN: {
    status: 403,
    summary: 'The actor is authenticated but not allowed this action on this resource.',
    action: 'Use a token with the scope named in the message.',
  },
  CAIRN_REQUEST_ORIGIN_REFUSED: {
    status: 403,
    summary:
      'A request was refused before authentication: a browser sent it for a page of another origin (another site or port, a file:// page), or its Host header names a host this server does not answer to.',
    action:
      'Use the dashboard at the address the server serves it on, or a client outside a browser (the cairn CLI, @cairn/client); to reach the server under another name, add that name to server.allowedHosts.',
  },
  CAIRN_NOT_FOUND: {
    status: 404,
    summary: 'The named run, item, artifact or other resource does not exist.',
    action: 'Check the identifier; list resources to find it.',
  },
  CAIRN_IDEMPOTENCY_CONFLICT: {
    status: 409,
    summary: 'The idempotency key was already used with a different run spec.',
    action: 'Use a new idempotency key, or resubmit exactly the original spec.',
  },
} as const satisfies Record<string, ErrorDescription>;

/** What the catalogue says about one code. */
export interface ErrorDescription {
  /** HTTP status the reference server answers with. */
  readonly status: number;
  /** What went wrong, in one sentence. */
  readonly summary: string;
  /** What to do about it. */
  readonly action: string;
}

/** Every error code Cairn may raise. */
export type CairnErrorCode = keyof typeof errorCatalogue;

/** All codes, in catalogue order. */
export const errorCodes = Object.keys(errorCatalogue) as readonly CairnErrorCode[];
