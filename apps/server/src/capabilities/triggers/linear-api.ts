import { CairnError } from '@cairn/protocol';

/** The mutation a run's end is commented with: Linear's `commentCreate` (its schema's `Mutation.commentCreate`). */
const commentCreate = `mutation CairnRunEnded($input: CommentCreateInput!) {
  commentCreate(input: $input) {
    success
    comment { id url }
  }
}`;

/**
 * Comments `body` (markdown) on the Linear issue `issueId` through Linear's GraphQL API at `apiUrl`,
 * with `token`: a personal API key (`lin_api_…`, sent as it is, as Linear asks) or an OAuth token
 * (`Bearer`). Returns the comment's id. A refusal (an HTTP error, GraphQL `errors`, or
 * `success: false`) is CAIRN_TRIGGER_REPLY_FAILED naming Linear's answer, never the token.
 */
export async function createLinearComment(options: {
  readonly apiUrl: string;
  readonly token: string;
  readonly issueId: string;
  readonly body: string;
  readonly signal?: AbortSignal;
}): Promise<string> {
  const failed = (what: string, cause?: unknown) =>
    new CairnError('CAIRN_TRIGGER_REPLY_FAILED', `Linear did not take the comment on issue ${options.issueId}: ${what}.`, {
      path: 'config.triggers.linear.tokenSecret',
      ...(cause === undefined ? {} : { cause }),
    });
  let response: Response;
  try {
    response = await fetch(options.apiUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: options.token.startsWith('lin_api_') ? options.token : `Bearer ${options.token}`,
      },
      body: JSON.stringify({ query: commentCreate, operationName: 'CairnRunEnded', variables: { input: { issueId: options.issueId, body: options.body } } }),
      signal: options.signal ?? AbortSignal.timeout(15_000),
    });
  } catch (error) {
    throw failed(`${options.apiUrl} could not be reached (${(error as Error).message})`, error);
  }
  const text = await response.text();
  let answer: { data?: { commentCreate?: { success?: boolean; comment?: { id?: string } } }; errors?: { message?: string }[] };
  try {
    answer = JSON.parse(text) as typeof answer;
  } catch {
    throw failed(`HTTP ${response.status}, not JSON: ${text.slice(0, 200)}`);
  }
  if (answer.errors !== undefined && answer.errors.length > 0)
    throw failed(
      `HTTP ${response.status}, ${answer.errors
        .map((error) => error.message ?? 'an error')
        .join('; ')
        .slice(0, 500)}`,
    );
  const created = answer.data?.commentCreate;
  if (!response.ok || created?.success !== true || typeof created.comment?.id !== 'string')
    throw failed(`HTTP ${response.status}, commentCreate answered ${JSON.stringify(created ?? null).slice(0, 200)}`);
  return created.comment.id;
}
