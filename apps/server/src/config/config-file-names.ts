/**
 * The file names a server looks for, in order. A file of its own: the `cairn` command line checks
 * for them before every client command, and must not load the config's schemas (the engine's, the
 * identity provider's) to do so.
 */
export const configFileNames = ['cairn.config.yaml', 'cairn.config.yml', 'cairn.config.json', 'cairn.config.ts'] as const;
