export {
  assertTransition,
  attemptStates,
  attemptTransitions,
  canTransition,
  isTerminalState,
  itemStates,
  itemTransitions,
  runStates,
  runTransitions,
} from './lifecycle-transitions.ts';
export type { TransitionTable } from './lifecycle-transitions.ts';
