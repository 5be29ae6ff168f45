import type { Duplex } from 'node:stream';
import { normalizeHostName } from './allow-list.ts';
import { readClientHello } from './client-hello.ts';
import type { EgressRefusalReason } from './egress-record.ts';

/** The bytes a tunnel's client sent first, and why they end the tunnel when they do. */
export interface TunnelClientHello {
  readonly bytes: Buffer;
  readonly refusal?: { readonly reason: EgressRefusalReason; readonly message: string };
}

/**
 * Waits for the first bytes through a tunnel (after `head`, what came with the CONNECT) to make a
 * ClientHello, and checks that its SNI names `host`, the name the tunnel was opened to and the only
 * one checked: a tunnel opened to an allowed name must not carry a TLS session to another. The
 * client is left paused with nothing read past the ClientHello's chunks, which are returned to be
 * sent on first.
 */
export function awaitTunnelClientHello(client: Duplex, head: Buffer, host: string, timeoutMs: number): Promise<TunnelClientHello> {
  return new Promise((resolve) => {
    let bytes = head;
    const finish = (refusal?: TunnelClientHello['refusal']) => {
      clearTimeout(timer);
      client.off('data', onData);
      client.off('close', onClose);
      client.pause();
      resolve(refusal === undefined ? { bytes } : { bytes, refusal });
    };
    const check = () => {
      const reading = readClientHello(bytes);
      if (reading.state === 'incomplete') return;
      if (reading.state === 'invalid') return finish({ reason: 'not-tls', message: reading.reason });
      if (reading.serverName === undefined) return finish({ reason: 'no-sni', message: `the ClientHello names no server; the tunnel was opened to ${host}` });
      if (normalizeHostName(reading.serverName) !== host)
        return finish({
          reason: 'sni-mismatch',
          message: `the ClientHello names ${JSON.stringify(reading.serverName)}, not ${host}, to which the tunnel was opened`,
        });
      finish();
    };
    const onData = (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      check();
    };
    const onClose = () => finish({ reason: 'not-tls', message: 'the client closed the tunnel before sending a ClientHello' });
    const timer = setTimeout(() => finish({ reason: 'not-tls', message: `no ClientHello within ${timeoutMs} ms` }), timeoutMs);
    client.on('data', onData);
    client.once('close', onClose);
    if (bytes.length > 0) check();
  });
}
