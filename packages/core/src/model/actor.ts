/** Who acts: a person, an API token, or Cairn itself (scheduler, reconcile loop, schedules). */
export type ActorKind = 'user' | 'token' | 'system';

/** Through which surface an actor acted; recorded in every audit entry it causes. */
export type ActorChannel = 'http' | 'cli' | 'mcp' | 'inbox' | 'schedule' | 'engine';

/** An authenticated identity. `id` is stable (a user name, a token id — never the token). */
export interface Actor {
  readonly kind: ActorKind;
  readonly id: string;
}

/** An actor together with the surface it used: the `actor` of an audit entry. */
export interface AuditActor extends Actor {
  readonly via: ActorChannel;
}
