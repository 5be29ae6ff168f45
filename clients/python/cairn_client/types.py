"""
The server's records as the HTTP API sends them: one TypedDict per schema of its OpenAPI document
(``/openapi.json``), named as the document names it, fields spelled as on the wire. A test
compares each with the document a real server serves: a field added, removed or made optional
there, or a state added to an enum, fails it until this file follows. Records the document leaves
open (Run, Item, Attempt, Schedule) may carry fields a newer server adds.
"""

# No `from __future__ import annotations` in this module: TypedDict reads NotRequired from the
# evaluated annotations, and Python 3.11 counts a NotRequired written as a string as required.
from typing import Any, Dict, List, Literal, NotRequired, Optional, TypedDict, Union

RunState = Literal["queued", "running", "awaiting-budget", "succeeded", "failed", "cancelled"]
ItemState = Literal["blocked", "awaiting-approval", "ready", "running", "succeeded", "failed", "skipped", "cancelled"]
AttemptState = Literal["dispatching", "running", "succeeded", "failed", "timed-out", "cancelled", "lost"]
EventType = Literal["run.state", "item.state", "attempt.state"]
SessionAction = Literal[
    "runs.submit",
    "runs.cancel",
    "runs.budget",
    "items.approve",
    "items.reject",
    "items.cancel",
    "audit.read",
    "tokens.manage",
    "schedules.manage",
    "runners.manage",
]


class Error(TypedDict):
    """The body of every error answer; the client raises it as a CairnError."""

    code: str
    message: str
    action: str
    path: NotRequired[str]
    issues: NotRequired[List[Dict[str, Any]]]


class SubmitResult(TypedDict):
    """A submitted run: its id, whether this request created it (False: an earlier one with the same idempotency key did), its spec digest."""

    runId: str
    created: bool
    specDigest: str


# Where a merge conflicted (CAIRN_MERGE_CONFLICT): the runtime.from entry whose patch conflicted,
# its position, and the entries merged before it. Functional syntax: `from` is a Python keyword.
MergeConflict = TypedDict("MergeConflict", {"from": str, "position": int, "merged": List[str]})


class AttemptFailure(TypedDict):
    """Why an attempt did not succeed: a catalogue code, what happened, the exit code or signal, the refusing rule, the end of its stderr (redacted)."""

    code: str
    message: str
    exitCode: Optional[int]
    signal: Optional[str]
    rule: NotRequired[str]
    stderrTail: str
    mergeConflict: NotRequired[MergeConflict]


class ModelSpend(TypedDict):
    """What model calls spent, as the server's model gateway metered them (not a provider's bill)."""

    calls: int
    succeeded: int
    failed: int
    denied: int
    inputTokens: int
    outputTokens: int
    cacheReadTokens: int
    cacheWriteTokens: int
    costUsd: float
    unknownUsage: int
    unknownCost: int


class FailedItem(TypedDict):
    itemId: str
    failure: Optional[AttemptFailure]


class RunSpend(TypedDict):
    """What a run and each of its items spent on model calls."""

    total: ModelSpend
    items: Dict[str, ModelSpend]


class Budget(TypedDict, total=False):
    usd: float
    tokens: int


class FetchedWorkspace(TypedDict):
    """A workspace the server fetched from a git repository when the run was submitted: the repository and ref its spec named, the commit the ref named then (what the items ran on) and the snapshot stored."""

    repository: str
    ref: str
    commit: str
    snapshot: str


class Run(TypedDict):
    """A run: its state and item counts; from ``run()``, also why items failed, its spend, its budget and a workspace fetched from a repository. Open."""

    runId: str
    name: str
    state: RunState
    specDigest: str
    idempotencyKey: Optional[str]
    submittedBy: str
    submittedAt: str
    finishedAt: Optional[str]
    itemsTotal: int
    itemsFinished: int
    itemsFailed: int
    # ``runs()`` only: how many of its items succeeded, and how many of those reused a pure result.
    itemsSucceeded: NotRequired[int]
    itemsReused: NotRequired[int]
    # Its dispatch priority, 1 (lowest) to 5 (highest); its items inherit it unless they set their own.
    priority: int
    failedItems: NotRequired[List[FailedItem]]
    spend: NotRequired[RunSpend]
    budget: NotRequired[Budget]
    workspace: NotRequired[FetchedWorkspace]


class LockWait(TypedDict):
    """A wait for global locks: since when, and for which locks."""

    startedAt: str
    locks: List[str]


# What a deliver item delivered (Item.delivery): the forge, the item whose patch ("from"), the
# branch and its base, the commit, "pushed" or "unchanged", the change request it opened or updated
# ({"id", "url"}), the stored provenance bundle ({"digest"}: get_blob serves it), the paths of the
# patch its forge protects (its CI configuration) when it touched any, and the run whose branch it
# took over (runtime.takeOver) when it did. The functional form, as "from" is a Python keyword.
ItemDelivery = TypedDict(
    "ItemDelivery",
    {
        "forge": str,
        "from": str,
        "branch": str,
        "base": str,
        "commit": str,
        "outcome": Literal["pushed", "unchanged"],
        "changeRequest": NotRequired[Dict[str, str]],
        "provenance": Dict[str, str],
        "protectedPaths": NotRequired[List[str]],
        "tookOverFrom": NotRequired[str],
    },
)


class ApprovalVote(TypedDict):
    """One person's vote under an approval policy: who (a token id, or <issuer>#<subject>), approve or reject, when, and why."""

    actor: str
    principal: str
    decision: Literal["approve", "reject"]
    at: str
    reason: NotRequired[str]


class LapsedApproval(TypedDict):
    """An approval that no longer counts: its principal's access was revoked or expired after they voted."""

    principal: str
    votedAt: str
    message: str


# The approval an item waits or waited for (Item.approval): its policy ("required" distinct
# approvers, "from" the roles or groups one of which an approver needs, "selfApproval", "timeout",
# "onTimeout"), the votes so far, how many approve and how many more it needs (0 once it no longer
# waits). The functional form, as "from" is a Python keyword.
ItemApproval = TypedDict(
    "ItemApproval",
    {
        "required": int,
        "from": NotRequired[List[str]],
        "selfApproval": bool,
        "timeout": NotRequired[str],
        "onTimeout": Literal["reject", "approve"],
        "votes": List[ApprovalVote],
        "lapsed": NotRequired[List[LapsedApproval]],
        "approvals": int,
        "needed": int,
    },
)


class EgressRefusal(TypedDict):
    """One connection the egress proxy of an allow-listed attempt refused or cut."""

    host: str
    port: int
    # not-allowed, denied, ip-literal, address-forbidden, not-tls, connection-limit, ... (the API reference lists them).
    reason: str
    # The entry that, added to the item's network.allow, would admit it; None when no entry could.
    wouldAdmit: Optional[str]


class AttemptEgress(TypedDict):
    """What the egress proxy of an allow-listed attempt admitted and refused (the first twenty refusals)."""

    allowed: int
    refused: int
    refusals: List[EgressRefusal]
    # How many times a credential placeholder was sent to a host it is not bound to.
    flagged: int


class ItemEgress(AttemptEgress):
    """AttemptEgress of the item's latest allow-listed attempt that ended with a result, with its number."""

    attempt: int


class AttemptEnvironment(TypedDict):
    """The warm environment (ADR 0056) an attempt ran over: built by it or reused, its setup's time, log and egress record."""

    # The environment's digest: its key (the key files' contents, the setup argv, the base).
    digest: str
    # True when this attempt ran the setup; False when it reused a layer built before.
    built: bool
    setupMs: int
    # The digest of the setup's log; client.blob(digest) reads it.
    log: str
    # The digest of the setup's egress record (NDJSON), when it ran behind the item's allow-list.
    egress: NotRequired[str]


class ItemEnvironment(AttemptEnvironment):
    """AttemptEnvironment of the item's latest attempt that ended with a result, with its number."""

    attempt: int


class Candidate(TypedDict):
    """One candidate of a best-of-N item, as its candidate.checked audit entry records it (ADR 0053)."""

    candidate: int
    attempt: int
    round: int
    outcome: str
    # Whether it may win: it succeeded, left a patch and its check passed.
    passed: bool
    exitCode: Optional[int]
    score: Optional[float]
    patchBytes: int


class CandidateJudge(TypedDict):
    """The judge's choice (``attempt``) and reason, or why its answer was refused and the order decided (ADR 0053)."""

    attempt: Optional[int]
    reason: Optional[str]
    refused: Optional[str]


class ItemCandidates(TypedDict):
    """A best-of-N item's candidates side by side with their checks, and which won and why (ADR 0053)."""

    count: int
    order: Literal["score", "smallest-diff", "first"]
    stopOnFirstPass: bool
    checked: List[Candidate]
    # The attempt whose patch is the item's; None until a round has a winner.
    winner: Optional[int]
    reason: Optional[str]
    # Who chose the winner; None until a round has a winner.
    decidedBy: Optional[Literal["judge", "order"]]
    # The judge of the last judged round (select.judge); None when none ran.
    judge: Optional["CandidateJudge"]


class Item(TypedDict):
    """A work item of a run: its state, and why it failed when it did. Open."""

    runId: str
    itemId: str
    state: ItemState
    approvalRequired: bool
    # When it waits or waited for approval: its policy, the votes so far and how many approvals it still needs.
    approval: NotRequired[ItemApproval]
    # When it last became ready (or will, after a retry's backoff); None while blocked, awaiting approval or parked.
    readyAt: Optional[str]
    # Its dispatch priority, 1 (lowest) to 5 (highest): its own, else its run's.
    priority: int
    failure: Optional[AttemptFailure]
    lockWait: Optional[LockWait]
    # list_run_items only, once a deliver item succeeded: what it delivered.
    delivery: NotRequired[ItemDelivery]
    # list_run_items only, for an allow-listed item once an attempt ended: what its egress proxy refused.
    egress: NotRequired[ItemEgress]
    # list_run_items only, for an item with a warm environment once an attempt ended: the environment it ran over.
    environment: NotRequired[ItemEnvironment]
    # list_run_items only, for a best-of-N item once it ran: its candidates and the winner.
    candidates: NotRequired[ItemCandidates]


class Attempt(TypedDict):
    """One attempt of an item: when it was dispatched and ended, how, and why it did not succeed. Open."""

    runId: str
    itemId: str
    attempt: int
    executionId: str
    state: AttemptState
    manifestDigest: str
    exitCode: Optional[int]
    artifacts: Optional[Dict[str, str]]
    dispatchedAt: str
    finishedAt: Optional[str]
    failure: Optional[AttemptFailure]
    lockWait: Optional[LockWait]
    # Behind a network allow-list, once it ended with a result: what its egress proxy admitted and refused.
    egress: NotRequired[AttemptEgress]
    # Over a warm environment, once it ended with a result: which one, built or reused, its setup's log and egress record.
    environment: NotRequired[AttemptEnvironment]


class Schedule(TypedDict):
    """A cron schedule that submits a run spec at each slot. Open."""

    scheduleId: str
    cron: str
    timeZone: str
    nextSlot: Optional[str]


class Secret(TypedDict):
    """A secret's name and version (never its value)."""

    name: str
    version: int
    updatedAt: str
    updatedBy: str


class RunPage(TypedDict):
    """A page of runs, newest first; pass ``nextCursor`` back as ``cursor`` for the next one."""

    runs: List[Run]
    nextCursor: NotRequired[str]


GrowthReason = Literal["planner", "forEach", "rerun"]


class GraphNode(TypedDict):
    """An item of a run's graph: its place in the run, state, runtime kind, and what added it."""

    itemId: str
    position: int
    state: ItemState
    kind: Literal["command", "agent", "merge", "deliver"]
    group: NotRequired[str]
    grows: NotRequired[GrowthReason]


# ``to`` waits on ``from``: named by its spec (dependency) or gained as the run grew (join).
# ``from`` is a Python keyword, hence the functional form.
GraphEdge = TypedDict("GraphEdge", {"from": str, "to": str, "kind": Literal["dependency", "join"]})


class GraphGroup(TypedDict):
    """Items one item (a planner, a forEach item, a merge) added to the run, as counted on a page."""

    id: str
    reason: GrowthReason
    items: int


class RunGraphPage(TypedDict):
    """A page of a run's graph by position; pass ``nextCursor`` back as ``cursor`` for the next one."""

    runId: str
    nodes: List[GraphNode]
    edges: List[GraphEdge]
    groups: List[GraphGroup]
    nextCursor: NotRequired[str]


class AttemptTrajectory(TypedDict):
    """One agent attempt's ATIF document, with the sha256 of its canonical JSON (RFC 8785)."""

    itemId: str
    attempt: int
    digest: str
    trajectory: Dict[str, Any]


class RunTrajectories(TypedDict):
    """A run's agent attempts as ATIF trajectories, one document per attempt, in item then attempt order."""

    runId: str
    format: Literal["atif"]
    schemaVersion: str
    trajectories: List[AttemptTrajectory]


class ProvenancePublicKey(TypedDict):
    hint: str


class ProvenanceVerificationMaterial(TypedDict):
    """The signing key's id as a hint (the verifier brings the key); no transparency-log entry."""

    publicKey: ProvenancePublicKey
    tlogEntries: List[Any]


class ProvenanceSignature(TypedDict):
    sig: str
    keyid: str


class ProvenanceEnvelope(TypedDict):
    """A DSSE envelope: the in-toto statement (base64) and its one signature."""

    payload: str
    payloadType: str
    signatures: List[ProvenanceSignature]


class ProvenanceBundle(TypedDict):
    """A patch's signed provenance: an in-toto Statement v1 (SLSA Provenance v1) in a Sigstore bundle v0.3."""

    mediaType: Literal["application/vnd.dev.sigstore.bundle.v0.3+json"]
    verificationMaterial: ProvenanceVerificationMaterial
    dsseEnvelope: ProvenanceEnvelope


class Token(TypedDict):
    """A bearer token as listed: never its secret."""

    id: str
    name: str
    scopes: List[str]
    createdAt: str
    revokedAt: NotRequired[str]
    expiresAt: NotRequired[str]
    oneTime: NotRequired[Literal[True]]
    session: NotRequired[Literal[True]]
    principal: str


class Runner(TypedDict):
    """A runner that polled the server since it started (ADR 0050)."""

    name: str
    tokenName: Optional[str]
    tokenRevoked: bool
    version: str
    labels: List[str]
    slots: int
    held: int
    lastSeen: str
    state: Literal["connected", "lost"]
    draining: bool


class Webhook(TypedDict):
    """A webhook endpoint: never its secret."""

    webhookId: str
    url: str
    events: Optional[List[str]]
    runId: Optional[str]
    description: Optional[str]
    createdAt: str
    createdBy: str
    disabledAt: Optional[str]
    disabledReason: Optional[str]


class WebhookDelivery(TypedDict):
    """One event on its way to one webhook endpoint."""

    deliveryId: str
    webhookId: str
    eventId: int
    eventType: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    lastStatusCode: Optional[int]
    lastError: Optional[str]
    nextAttemptAt: Optional[str]
    createdAt: str
    updatedAt: str


class RunStateEvent(TypedDict):
    id: int
    time: str
    runId: str
    type: Literal["run.state"]
    state: RunState


class ItemStateEvent(TypedDict):
    id: int
    time: str
    runId: str
    type: Literal["item.state"]
    itemId: str
    state: ItemState
    failure: NotRequired[AttemptFailure]


class AttemptStateEvent(TypedDict):
    id: int
    time: str
    runId: str
    type: Literal["attempt.state"]
    itemId: str
    attempt: int
    state: AttemptState
    failure: NotRequired[AttemptFailure]


Event = Union[RunStateEvent, ItemStateEvent, AttemptStateEvent]
"""A state change of a run, an item or an attempt; ``id`` is its audit sequence. Tell them apart by ``type``."""


class SessionActor(TypedDict):
    kind: str
    id: str


class Session(TypedDict):
    """Who the client's credential acts as, and which actions it may take."""

    actor: SessionActor
    auth: Literal["tokens", "loopback-operator"]
    actions: List[SessionAction]


class LogSinkStatus(TypedDict):
    """Whether the server's log is being written."""

    ok: bool
    droppedLines: int
    since: NotRequired[str]
    reason: NotRequired[str]


# Answers the document describes inline rather than as named schemas.


class Health(TypedDict):
    """``GET /healthz``: the process is up."""

    ok: bool


class Readiness(TypedDict):
    """``GET /readyz``: whether the engine can do its work, and since when (the reason when it cannot; ``auditEntries`` absent when the engine's state cannot be read)."""

    ready: bool
    reason: NotRequired[str]
    since: str
    auditEntries: NotRequired[int]
    logging: NotRequired[LogSinkStatus]


class SubmittedSpec(TypedDict):
    """``GET /v1/runs/{runId}/spec``: the spec a run was submitted with, canonical; its items carry ``id``, ``dependsOn``, ``needs`` and the rest. Open."""

    name: str
    items: List[Dict[str, Any]]


class StoredBlob(TypedDict):
    """``POST /v1/blobs``: the digest the bytes are stored under, and their length."""

    digest: str
    bytes: int


class CreatedToken(TypedDict):
    """``POST /v1/tokens``: the token's secret (in this answer only) and its record."""

    token: str
    record: Token


class SignInCode(TypedDict):
    """``POST /v1/session/links``: a one-time dashboard sign-in code (in this answer only), when it expires and what it grants."""

    code: str
    expiresAt: str
    scopes: List[str]


class CreatedWebhook(Webhook):
    """``POST /v1/webhooks``: the endpoint, with its signing secret (whsec_...) shown this once."""

    secret: str


# What the client reads from streams and folders (not JSON answers of the document).


class LogEnd(TypedDict):
    """How an attempt ended: the last line of its log."""

    attempt: int
    state: AttemptState
    exitCode: Optional[int]
    finishedAt: Optional[str]
    failure: NotRequired[AttemptFailure]


class LogOutput(TypedDict):
    """A piece of an attempt's stdout or stderr (redacted); ``notice`` marks the server's own word about the stream, not its bytes."""

    stream: Literal["stdout", "stderr"]
    text: str
    notice: NotRequired[Literal[True]]


class LogFinished(TypedDict):
    end: LogEnd


LogLine = Union[LogOutput, LogFinished]
"""One line of an item's log: output (``"stream" in line``), or, last, how the attempt ended (``"end" in line``)."""


class AuditEntry(TypedDict):
    """One entry of the audit log (see docs/audit/formats.md)."""

    seq: int
    time: str
    actor: Dict[str, Any]
    action: str
    entity: Dict[str, str]
    outcome: str
    runId: NotRequired[str]
    runSeq: NotRequired[int]
    data: Dict[str, Any]


class UploadedWorkspace(TypedDict):
    """A folder's snapshot as uploaded: its digest (what ``workspace: {snapshot}`` names) and how many files and symlinks it holds."""

    digest: str
    entries: int
