// The verifier's modules use Node's global `Buffer` (hex and base64 codecs, scratch buffers made
// when they load): this module, imported before them, gives the page the same API.
import { Buffer } from 'buffer';

(globalThis as { Buffer?: unknown }).Buffer ??= Buffer;
