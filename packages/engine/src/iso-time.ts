/**
 * An instant as ISO 8601 text, as `Date#toISOString` writes it, remembering the last one made. The
 * engine writes the time of now many times in one millisecond of a busy pass (each audit entry,
 * attempt and manifest), and formatting a Date costs about half a microsecond each time: 3–4 % of
 * a 10,000-item fan-out's CPU, measured. A time other than now (a deadline) is formatted
 * anew and takes the memory's place, so the next now is formatted again: fine off the hot path.
 */
export function isoTime(milliseconds: number): string {
  // NaN never equals itself, so an invalid instant is formatted (and throws) as Date would.
  if (milliseconds !== lastMilliseconds) {
    lastText = new Date(milliseconds).toISOString();
    lastMilliseconds = milliseconds;
  }
  return lastText;
}

let lastMilliseconds = Number.NaN;
let lastText = '';
