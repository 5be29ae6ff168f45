// Blobs and workspace snapshots as the client stores them on the server: by digest, a snapshot
// streamed from a temporary file and sent only when the server does not hold it already.
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '@cairn/core';
import { CairnError, isCairnError } from '@cairn/protocol/errors';
import { builtin } from './builtin-module.ts';
import type { ClientTransport } from './client-transport.ts';

/** `CairnHttpClient.uploadBlob`: stores bytes by their digest. */
export async function uploadBlob(transport: ClientTransport, bytes: Uint8Array): Promise<Digest> {
  const { createHash } = await builtin('node:crypto');
  return (
    await transport.json<{ digest: Digest }>('POST', '/v1/blobs', bytes, {
      'content-type': 'application/octet-stream',
      'x-cairn-digest': `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    })
  ).digest;
}

/** `CairnHttpClient.uploadWorkspace`: snapshots a folder and uploads it unless the server holds it. */
export async function uploadWorkspace(
  transport: ClientTransport,
  directory: string,
  options: { readonly history?: number; readonly indexFolder?: string | false },
): Promise<{ digest: Digest; entries: number }> {
  // Snapshot code loads when a workspace is uploaded, not with every client.
  const { defaultHistoryDepth, prepareWorkspaceSnapshot } = await import('@cairn/protocol/workspace');
  const { mkdtemp, rm } = await builtin('node:fs/promises');
  const prepared = await prepareWorkspaceSnapshot(directory, {
    history: options.history ?? defaultHistoryDepth,
    ...(options.indexFolder === undefined ? {} : { indexFolder: options.indexFolder }),
  });
  // Unchanged since a snapshot the server holds: nothing to write, nothing to send.
  if (prepared.known !== undefined && (await holdsBlob(transport, prepared.known.digest)))
    return { digest: prepared.known.digest, entries: prepared.known.entries };
  const folder = await mkdtemp(join(tmpdir(), 'cairn-upload-'));
  try {
    const file = join(folder, 'snapshot.tar');
    const snapshot = await prepared.write(createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    if (await holdsBlob(transport, snapshot.digest)) return { digest: snapshot.digest, entries: snapshot.entries };
    try {
      const stored = await transport.postFile('/v1/blobs', file, {
        'content-type': 'application/octet-stream',
        'content-length': String(snapshot.bytes),
        'x-cairn-digest': snapshot.digest,
      });
      return { digest: (stored as { digest: Digest }).digest, entries: snapshot.entries };
    } catch (error) {
      // The server knows its limit; only the client knows which folder made a snapshot that large.
      if (!isCairnError(error, 'CAIRN_UPLOAD_TOO_LARGE')) throw error;
      throw new CairnError(
        'CAIRN_UPLOAD_TOO_LARGE',
        `The workspace ${directory} makes a snapshot of ${snapshot.bytes} bytes (${snapshot.entries} files and symlinks), over the server's upload limit: ${error.message}`,
        { path: 'workspace', details: { workspace: directory, bytes: snapshot.bytes, ...error.details }, cause: error },
      );
    }
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/**
 * Whether the server holds the blob `digest`. Only a yes skips an upload: a server that cannot
 * say (an older one, a token that may not ask) is uploaded to, as before.
 */
async function holdsBlob(transport: ClientTransport, digest: Digest): Promise<boolean> {
  try {
    await (await transport.request('HEAD', `/v1/blobs/${digest}`)).discard();
    return true;
  } catch (error) {
    if (isCairnError(error, 'CAIRN_SERVER_UNREACHABLE')) throw error;
    return false;
  }
}
