/** A value that survives `JSON.stringify` → `JSON.parse` unchanged. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/** A JSON object. Keys are plain strings; `__proto__` is rejected at every boundary. */
export interface JsonObject {
  [key: string]: JsonValue;
}
