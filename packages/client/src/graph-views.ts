// A run's graph as the server reports it (whole or by pages), and its agents' trajectories.
import type { Digest, ItemState } from '@cairn/core';

/** How an item adds items to its run (ADR 0034): a planner's fragment, a `forEach` item's instances, a merge's re-runs. */
export type GrowthReason = 'planner' | 'forEach' | 'rerun';

/** An item of a run's graph. */
export interface GraphNodeView {
  readonly itemId: string;
  /** Its place in the run: the spec's items first, then each added item in the order it was added. */
  readonly position: number;
  readonly state: ItemState;
  readonly kind: 'command' | 'agent' | 'merge' | 'deliver';
  /** The item that added it to the run (a planner, a `forEach` item, a merge), when one did. */
  readonly group?: string;
  /** How it adds items to the run, when it does. */
  readonly grows?: GrowthReason;
}

/**
 * `to` waits on `from`: a `dependency` its spec names, or a `join` the run gained as it grew (a
 * fragment's last items for what depended on their planner, a `forEach` item's instances for what
 * depended on it, a re-run for its merge).
 */
export interface GraphEdgeView {
  readonly from: string;
  readonly to: string;
  readonly kind: 'dependency' | 'join';
}

/** The items one item added to the run: `items` of them (on a page: of the page's nodes). */
export interface GraphGroupView {
  readonly id: string;
  readonly reason: GrowthReason;
  readonly items: number;
}

/** A run's graph: its items by position, how they wait on each other, and which item added which. */
export interface RunGraphView {
  readonly runId: string;
  readonly nodes: readonly GraphNodeView[];
  readonly edges: readonly GraphEdgeView[];
  readonly groups: readonly GraphGroupView[];
}

/**
 * A run's agent attempts as ATIF trajectories (`trajectories`): one document per attempt, in item
 * then attempt order, each with the sha256 of its canonical JSON (RFC 8785).
 */
export interface RunTrajectoriesView {
  readonly runId: string;
  readonly format: 'atif';
  /** The ATIF version of every document (`ATIF-v1.4`). */
  readonly schemaVersion: string;
  readonly trajectories: readonly {
    readonly itemId: string;
    readonly attempt: number;
    readonly digest: Digest;
    /** The ATIF document; its `session_id` is the attempt id. */
    readonly trajectory: Record<string, unknown>;
  }[];
}

/** A page of a run's graph (`graphPage`): its nodes, their edges and groups; `nextCursor` reads the next. */
export interface RunGraphPageView extends RunGraphView {
  readonly nextCursor?: string;
}
