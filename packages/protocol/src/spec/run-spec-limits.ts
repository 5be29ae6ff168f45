/**
 * Size limits of a run spec. They keep one submission from exhausting the server (memory, the
 * scheduler's graph work, the audit log); a spec over a limit is refused with
 * CAIRN_RUN_SPEC_TOO_LARGE naming the limit.
 */
export const runSpecLimits = {
  /** Bytes of the YAML or JSON document (a 100,000-item spec of plain commands is about 14 MB). */
  documentBytes: 33_554_432,
  /** Nesting depth of the parsed document. */
  depth: 32,
  /** YAML aliases (a billion-laughs document expands through them). */
  yamlAliases: 100,
  items: 100_000,
  /** dependsOn edges plus needs and merged items across the whole run. */
  edges: 1_000_000,
  /** Characters of an id, a name, a lock, queue, executor or adapter name. */
  nameLength: 128,
  /** Characters of a description, a prompt or an env value. */
  textLength: 65_536,
  /** Characters of one argv element. */
  argumentLength: 8_192,
  /** Entries of a list inside an item (argv, dependsOn, locks, secrets, apply). */
  listEntries: 1_000,
  /** Entries of a map (env, labels, needs). */
  mapEntries: 256,
} as const;
