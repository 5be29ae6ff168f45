// `@cairn/client/http`: the client without zod at import, for a program whose start matters (the
// `cairn` CLI). The root entry has the same calls and the settings schema.
export { openCairnClient } from '../open-cairn-client.ts';
export type { CairnHttpClient } from '../cairn-http-client.ts';
export type { CairnClientSettings } from '../cairn-client-settings.ts';
