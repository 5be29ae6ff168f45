// Tests of in-process executors stand a task's behaviour in for its manifest: the task envelope
// carries a real digest (of the behaviour's canonical JSON), and the task body looks the
// behaviour up by it, as a worker would fetch its manifest from storage.
import type { TaskEnvelope } from '@cairn/core';
import { digestOfJson } from '@cairn/protocol';
import type { ExecutorTaskBehaviour } from './executor-task-behaviour.ts';

export function behaviourManifests() {
  const byDigest = new Map<string, ExecutorTaskBehaviour>();
  return {
    envelope(behaviour: ExecutorTaskBehaviour, executionId: string): TaskEnvelope {
      const manifestDigest = digestOfJson(behaviour);
      byDigest.set(manifestDigest, behaviour);
      return { executionId, manifestDigest };
    },
    behaviourOf(task: TaskEnvelope): ExecutorTaskBehaviour {
      const behaviour = byDigest.get(task.manifestDigest);
      if (!behaviour) throw new Error(`no behaviour stored under ${task.manifestDigest}`);
      return behaviour;
    },
  };
}
