/**
 * Returns an OpenAI Chat Completions request body that asks for usage in the stream, keeping
 * everything else the client sent (including its other `stream_options`).
 *
 * A streamed chat completion reports no usage unless `stream_options.include_usage` is true,
 * and a call the gateway cannot measure is one it cannot account for, so the gateway sets it
 * on every streamed chat request. The client then sees what it would have seen had it asked
 * itself: `"usage": null` on each chunk and one more chunk, with empty `choices`, carrying the
 * usage before `[DONE]`. A client that reads `choices[0]` of every chunk without checking must
 * tolerate that chunk. Bodies that do not stream are returned unchanged: the option is only
 * allowed with `stream: true`, and a non-streamed response always has usage.
 */
export function withStreamUsage<Body extends Record<string, unknown>>(body: Body): Body {
  if (body['stream'] !== true) return body;
  const current = body['stream_options'];
  const options = typeof current === 'object' && current !== null && !Array.isArray(current) ? (current as Record<string, unknown>) : {};
  if (options['include_usage'] === true) return body;
  return { ...body, stream_options: { ...options, include_usage: true } };
}
