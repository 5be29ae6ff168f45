// The verifier's modules use Node's global `Buffer` (hex and base64 codecs, scratch buffers made
// when they load): this module, imported before them, gives the page the calls they make.
import { Buffer } from './node-buffer.ts';

(globalThis as { Buffer?: unknown }).Buffer ??= Buffer;
