// The verifier `cairn verify` runs (@cairn/audit's verifyBundle), built for the browser: loaded
// by the Evidence view on demand (its own chunk, so no other page pays for it). The Buffer global
// is set before the verifier's modules load: some make scratch buffers as they load.
import './browser-node/buffer-global.ts';

export { verifyBundle } from '@cairn/audit';
