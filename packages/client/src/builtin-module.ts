/** The Node built-ins the client loads when a call needs them, not at its import. */
interface BuiltinModules {
  readonly 'node:crypto': typeof import('node:crypto');
  readonly 'node:fs/promises': typeof import('node:fs/promises');
  readonly 'node:http': typeof import('node:http');
  readonly 'node:https': typeof import('node:https');
  readonly 'node:stream': typeof import('node:stream');
  readonly 'node:zlib': typeof import('node:zlib');
}

/**
 * A Node built-in module, taken with `process.getBuiltinModule` rather than imported: importing
 * `node:http` as an ES module evaluates every export of it, its `WebSocket` too, which loads
 * fetch's whole HTTP stack (undici, ~30 ms of a `cairn` start); the CommonJS object leaves that
 * export unread (and `node:crypto`'s `webcrypto`, which an import evaluates too). Node before 22.3 has no getBuiltinModule: an import works there, at that cost.
 */
export async function builtin<Name extends keyof BuiltinModules>(name: Name): Promise<BuiltinModules[Name]> {
  if (typeof process.getBuiltinModule === 'function') return process.getBuiltinModule(name) as BuiltinModules[Name];
  return (await import(name)) as BuiltinModules[Name];
}
