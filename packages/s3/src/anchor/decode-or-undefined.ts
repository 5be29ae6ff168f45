/** `decodeURIComponent`, or undefined for text that is not percent-encoding (a forged value). */
export function decodeOrUndefined(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
