import type { CairnEventType } from '@cairn/core';

/** Every event type an endpoint may subscribe to: what the engine's event stream carries. */
export const webhookEventTypes = ['run.state', 'item.state', 'attempt.state'] as const satisfies readonly CairnEventType[];

// Fails to compile when the engine gains an event type this list lacks.
true satisfies CairnEventType extends (typeof webhookEventTypes)[number] ? true : false;
