// A response body read as text records (NDJSON lines) as its bytes arrive.
/**
 * The text records of a response body, split on `separator` as its bytes arrive; with `trailing`,
 * what follows the last separator is a record too (otherwise it is an unfinished one, dropped).
 */
export async function* textRecords(body: AsyncIterable<Uint8Array>, separator: string, options: { readonly trailing: boolean }): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf(separator); end >= 0; end = buffer.indexOf(separator)) {
      yield buffer.slice(0, end);
      buffer = buffer.slice(end + separator.length);
    }
  }
  buffer += decoder.decode();
  if (options.trailing && buffer !== '') yield buffer;
}
