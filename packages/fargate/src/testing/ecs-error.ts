// An ECS error answer: `{"__type": ..., "message": ...}` with its HTTP status, as the SDK reads it.
import { account } from './ecs-task.ts';

/** An error the endpoint answers: its `__type`, message, status and any more fields. */
export class EcsError extends Error {
  readonly type: string;
  readonly status: number;
  readonly extra: Record<string, unknown>;

  constructor(type: string, message: string, status = 400, extra: Record<string, unknown> = {}) {
    super(message);
    this.type = type;
    this.status = status;
    this.extra = extra;
  }
}

/** AccessDeniedException, as an IAM policy without the operation answers it. */
export function accessDenied(operation: string): EcsError {
  return new EcsError(
    'AccessDeniedException',
    `User: arn:aws:iam::${account}:user/cairn-test is not authorized to perform: ecs:${operation} because no identity-based policy allows the ecs:${operation} action`,
  );
}
