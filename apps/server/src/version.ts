/** The version of `@cairn/server` (and of the `cairn` command): kept equal to package.json by a test. */
export const VERSION = '0.1.0';
