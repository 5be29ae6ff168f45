/**
 * Credentials that have a recognisable shape: Cairn bearer tokens (`cairn_<id>_<secret>`) and
 * webhook signing secrets (`whsec_<base64>`). Matched anywhere in a log line, whatever field
 * carries them (a message, an error's stack, a URL), because no list of field names catches a
 * token pasted into an unexpected place.
 */
const secretShapes = /\b(cairn_[0-9a-f]{12}_|whsec_)[A-Za-z0-9+/=_-]+/g;

/** `text` with every token- or secret-shaped run replaced by its prefix and `[redacted]`. */
export function redactSecretShapes(text: string): string {
  return text.replace(secretShapes, '$1[redacted]');
}
