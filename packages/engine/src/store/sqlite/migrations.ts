/** One schema step. Numbered from 1, applied in order, never edited once released. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * The engine's schema, step by step. The database records how far it is (`PRAGMA user_version`)
 * and `openEngineDatabase` applies the rest in one transaction.
 */
export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'audit log and Merkle nodes',
    sql: `
      CREATE TABLE audit_entries (
        seq INTEGER PRIMARY KEY,
        run_id TEXT,
        run_seq INTEGER,
        time TEXT NOT NULL,
        action TEXT NOT NULL,
        entity_kind TEXT NOT NULL,
        outcome TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        body TEXT NOT NULL
      ) STRICT;
      CREATE UNIQUE INDEX audit_entries_by_run ON audit_entries (run_id, run_seq) WHERE run_id IS NOT NULL;
      CREATE TABLE merkle_nodes (
        level INTEGER NOT NULL,
        idx INTEGER NOT NULL,
        hash BLOB NOT NULL,
        PRIMARY KEY (level, idx)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'runs, items and their dependency edges',
    sql: `
      CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        state TEXT NOT NULL,
        spec_digest TEXT NOT NULL,
        idempotency_key TEXT UNIQUE,
        submitted_by TEXT NOT NULL,
        submitted_at TEXT NOT NULL,
        finished_at TEXT,
        items_total INTEGER NOT NULL,
        items_finished INTEGER NOT NULL DEFAULT 0,
        items_failed INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      -- The spec apart from the run row: the row is updated on every item that finishes, and
      -- SQLite rewrites a whole row on update (a 10,000-item spec is over a megabyte).
      CREATE TABLE run_specs (
        run_id TEXT PRIMARY KEY REFERENCES runs (run_id),
        spec TEXT NOT NULL
      ) STRICT;
      CREATE TABLE items (
        run_id TEXT NOT NULL REFERENCES runs (run_id),
        item_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        state TEXT NOT NULL,
        waiting_on INTEGER NOT NULL,
        approval_required INTEGER NOT NULL,
        ready_at TEXT,
        PRIMARY KEY (run_id, item_id)
      ) STRICT;
      CREATE INDEX items_ready ON items (ready_at, run_id, item_id) WHERE state = 'ready';
      CREATE TABLE item_edges (
        run_id TEXT NOT NULL,
        prerequisite TEXT NOT NULL,
        dependent TEXT NOT NULL,
        PRIMARY KEY (run_id, prerequisite, dependent),
        FOREIGN KEY (run_id, prerequisite) REFERENCES items (run_id, item_id),
        FOREIGN KEY (run_id, dependent) REFERENCES items (run_id, item_id)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 3,
    name: 'attempts, and what dispatch needs of each item',
    sql: `
      ALTER TABLE items ADD COLUMN spec TEXT NOT NULL DEFAULT '{}';
      ALTER TABLE items ADD COLUMN executor TEXT NOT NULL DEFAULT '';
      ALTER TABLE items ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE runs ADD COLUMN workspace TEXT;
      CREATE TABLE attempts (
        run_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        fencing_token INTEGER NOT NULL,
        execution_id TEXT NOT NULL UNIQUE,
        executor TEXT NOT NULL,
        state TEXT NOT NULL,
        manifest_digest TEXT NOT NULL,
        handle TEXT,
        exit_code INTEGER,
        artifacts TEXT,
        dispatched_at TEXT NOT NULL,
        finished_at TEXT,
        PRIMARY KEY (run_id, item_id, attempt),
        FOREIGN KEY (run_id, item_id) REFERENCES items (run_id, item_id)
      ) STRICT;
      CREATE INDEX attempts_live ON attempts (state) WHERE state IN ('dispatching', 'running');
    `,
  },
  {
    version: 4,
    name: 'attempt deadlines and cancel requests',
    sql: `
      ALTER TABLE attempts ADD COLUMN deadline TEXT;
      ALTER TABLE attempts ADD COLUMN stop_reason TEXT;
      ALTER TABLE attempts ADD COLUMN stop_sent INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE runs ADD COLUMN cancel_requested_by TEXT;
    `,
  },
  {
    version: 5,
    name: 'global named locks',
    sql: `
      CREATE TABLE lock_holders (
        name TEXT NOT NULL,
        mode TEXT NOT NULL,
        run_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        PRIMARY KEY (name, run_id, item_id)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX lock_holders_by_item ON lock_holders (run_id, item_id);
      -- Ready items in FIFO order: by ready time, then by insertion (rowid), so two items ready in
      -- the same millisecond keep their submission order.
      DROP INDEX items_ready;
      CREATE INDEX items_ready ON items (ready_at) WHERE state = 'ready';
    `,
  },
  {
    version: 6,
    name: 'per-run and per-queue concurrency',
    sql: `
      ALTER TABLE runs ADD COLUMN concurrency INTEGER;
      ALTER TABLE attempts ADD COLUMN queue TEXT;
    `,
  },
  {
    version: 7,
    name: 'checkpoints and their anchoring',
    sql: `
      CREATE TABLE checkpoints (
        tree_size INTEGER PRIMARY KEY,
        envelope TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        anchored INTEGER NOT NULL DEFAULT 0,
        receipts TEXT NOT NULL DEFAULT '[]',
        tries INTEGER NOT NULL DEFAULT 0,
        next_try_at TEXT NOT NULL,
        last_error TEXT
      ) STRICT;
      CREATE INDEX checkpoints_pending ON checkpoints (next_try_at) WHERE anchored = 0;
    `,
  },
  {
    version: 8,
    name: 'approval deadlines, item cancels, item artifacts, pure results, secrets and schedules',
    sql: `
      -- When an awaiting item's approval times out (it then fails), found by a partial index.
      ALTER TABLE items ADD COLUMN approval_deadline TEXT;
      CREATE INDEX items_awaiting_approval ON items (approval_deadline) WHERE state = 'awaiting-approval';
      -- The actor (JSON) who cancelled a running item; it ends cancelled once its task stops.
      ALTER TABLE items ADD COLUMN cancel_requested_by TEXT;
      -- What a succeeded item produced (kind -> digest), whether it ran or reused a pure result:
      -- consumers' inputs are resolved from here.
      ALTER TABLE items ADD COLUMN artifacts TEXT;
      -- The input digest of a pure item's attempt, so its success can be recorded for reuse.
      ALTER TABLE attempts ADD COLUMN input_digest TEXT;
      CREATE TABLE pure_results (
        input_digest TEXT PRIMARY KEY,
        run_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        artifacts TEXT NOT NULL,
        exit_code INTEGER,
        recorded_at TEXT NOT NULL
      ) STRICT;
      -- Secret values, encrypted through CipherV1 and bound to the name; the version counts sets.
      CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        envelope TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        updated_by TEXT NOT NULL
      ) STRICT;
      -- Cron schedules: each slot becomes a run with id <scheduleId>@<slot ISO time>.
      CREATE TABLE schedules (
        schedule_id TEXT PRIMARY KEY,
        cron TEXT NOT NULL,
        time_zone TEXT NOT NULL,
        spec TEXT NOT NULL,
        catch_up TEXT NOT NULL,
        catch_up_max INTEGER,
        overlap TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        next_slot TEXT,
        last_run_id TEXT
      ) STRICT;
      CREATE INDEX schedules_due ON schedules (next_slot) WHERE next_slot IS NOT NULL;
    `,
  },
  {
    version: 9,
    name: 'run history, newest first, and reuse counts',
    sql: `
      -- Listing runs newest first (by submit time, then id), of every state or of one, reads an
      -- index in order instead of sorting the whole table; run state changes are rare writes.
      CREATE INDEX runs_newest ON runs (submitted_at, run_id);
      CREATE INDEX runs_by_state_newest ON runs (state, submitted_at, run_id);
      -- How many of a run's items reused a pure result, counted without reading its other entries.
      CREATE INDEX audit_entries_reused ON audit_entries (run_id) WHERE action = 'item.reused';
    `,
  },
  {
    version: 10,
    name: "idempotency keys are each submitter's own",
    sql: `
      -- A key is stored with its submitter ("<submitted_by>" U+001F "<key>"): the column stays
      -- UNIQUE, and another principal using the same key gets a run of its own, never this one.
      UPDATE runs SET idempotency_key = submitted_by || char(31) || idempotency_key WHERE idempotency_key IS NOT NULL;
    `,
  },
  {
    version: 11,
    name: 'why attempts and items failed',
    sql: `
      -- An attempt's AttemptFailure (JSON: code, message, exit code, signal, rule, stderr tail),
      -- null when it succeeded or is still live. Written once, with the attempt's end.
      ALTER TABLE attempts ADD COLUMN failure TEXT;
      -- The item's latest failure: its last attempt's, or why it could not be dispatched at all;
      -- null once an attempt of it succeeds. Read with the item, so listing items joins nothing.
      ALTER TABLE items ADD COLUMN failure TEXT;
    `,
  },
  {
    version: 12,
    name: 'lock waits',
    sql: `
      -- When a dispatch pass first found a ready item held back by a global lock (\`locks:\`) that
      -- another item holds or an older waiter reserved, and which lock names (JSON array). Written
      -- once per wait (only while null), moved onto the attempt it dispatches and cleared then.
      ALTER TABLE items ADD COLUMN lock_wait_started_at TEXT;
      ALTER TABLE items ADD COLUMN lock_wait_locks TEXT;
      -- The wait before this attempt's dispatch, as the item had it; null when it waited for no lock.
      ALTER TABLE attempts ADD COLUMN lock_wait_started_at TEXT;
      ALTER TABLE attempts ADD COLUMN lock_wait_locks TEXT;
    `,
  },
  {
    version: 13,
    name: 'run history by name and by submitter',
    sql: `
      -- Listing one name's or one submitter's runs newest first walks only those runs, in order,
      -- instead of every run; state and time filters are checked on the rows that walk meets.
      CREATE INDEX runs_by_name_newest ON runs (name, submitted_at, run_id);
      CREATE INDEX runs_by_submitter_newest ON runs (submitted_by, submitted_at, run_id);
    `,
  },
  {
    version: 14,
    name: "the Merkle tree's leaves are the audit entries",
    sql: `
      -- A leaf is the hash of its entry's body, read from audit_entries when needed; nodes of
      -- levels 1 to 3 are hashed again from at most 8 leaves. Only levels 4 and up are kept (ADR 0027).
      DELETE FROM merkle_nodes WHERE level < 4;
    `,
  },
  {
    version: 15,
    name: 'one Merkle level in four stored',
    sql: `
      -- Nodes of levels 4, 8, 12, ... are kept; one of a level between is hashed again from at
      -- most 8 nodes of the stored level below it. Each stored level is a page a commit writes
      -- (ADR 0027).
      DELETE FROM merkle_nodes WHERE level % 4 != 0;
    `,
  },
  {
    version: 16,
    name: 'dispatch priority',
    sql: `
      -- A run's and an item's priority (1 lowest to 5 highest; 3 when the spec sets none): the
      -- run's as shown, the item's as it is dispatched.
      ALTER TABLE runs ADD COLUMN priority INTEGER NOT NULL DEFAULT 3;
      ALTER TABLE items ADD COLUMN priority INTEGER NOT NULL DEFAULT 3;
      -- A ready item's place in the dispatch order, smaller first (RunStore's dispatchOrderOf): its
      -- ready time in ms moved by its priority, so that a waiting item rises a level every
      -- priorityAgingSeconds. Set when it becomes ready; null while it has no ready time (blocked,
      -- or set aside by parkReady). Items ready now all have priority 3: their ready time.
      ALTER TABLE items ADD COLUMN dispatch_order INTEGER;
      UPDATE items SET dispatch_order = CAST(round((julianday(ready_at) - 2440587.5) * 86400000) AS INTEGER)
        WHERE state = 'ready' AND ready_at IS NOT NULL;
      -- Ready items in dispatch order, ties in insertion order (rowid). items_ready stays, for
      -- the earliest ready time (when a retry's backoff ends).
      CREATE INDEX items_dispatch_order ON items (dispatch_order) WHERE state = 'ready' AND dispatch_order IS NOT NULL;
    `,
  },
  {
    version: 17,
    name: 'approval votes',
    sql: `
      -- Each person's vote on an item under an approval policy (ADR 0041), one per person and item
      -- (the key refuses a second): who (the actor's id, and the actor as JSON), approve or reject,
      -- when, and the reason given. Written in the transaction that decides the approval.
      CREATE TABLE approval_votes (
        run_id TEXT NOT NULL,
        item_id TEXT NOT NULL,
        voter TEXT NOT NULL,
        actor TEXT NOT NULL,
        decision TEXT NOT NULL,
        voted_at TEXT NOT NULL,
        reason TEXT,
        PRIMARY KEY (run_id, item_id, voter)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 18,
    name: "a run's entries of an action read without its others",
    sql: `
      -- A run's model calls (its spend), budget raises and approval votes, each action read through
      -- an index of its own (AuditQueryReader): the run view reads the first two on every request,
      -- and a run of 100,000 items has 200,000 other entries. Partial: every other entry is
      -- appended without them.
      CREATE INDEX audit_entries_model_calls ON audit_entries (run_id, run_seq) WHERE action = 'model.called';
      CREATE INDEX audit_entries_budget_raises ON audit_entries (run_id, run_seq) WHERE action = 'run.budget-raised';
      CREATE INDEX audit_entries_approval_votes ON audit_entries (run_id, run_seq) WHERE action = 'item.approval-voted';
    `,
  },
];
