/**
 * Decodes standard padded base64, or returns undefined for any text that is not the exact
 * encoding of its bytes. Node's decoder skips invalid characters and ignores stray padding, so two
 * different texts can decode to the same bytes; evidence must not have such slack, or a flipped
 * character would go unnoticed.
 */
export function decodeBase64Strict(text: string): Uint8Array | undefined {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
