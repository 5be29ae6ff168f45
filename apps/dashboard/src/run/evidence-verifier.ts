// The verifier `cairn verify` runs (@cairn/audit's verifyBundle), built for the browser: loaded
// by the Evidence view on demand (its own chunk, so no other page pays for it). Both modules
// below act as they load and must run before the verifier's: the Buffer global, because some of
// its modules make scratch buffers as they load; zod without JIT, because @cairn/protocol builds
// its schemas as it loads and zod probes `new Function` then.
import '../browser-node/buffer-global.ts';
import './zod-without-jit.ts';

export { verifyBundle } from '@cairn/audit';
