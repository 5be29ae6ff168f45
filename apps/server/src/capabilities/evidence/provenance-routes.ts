import { sigstoreBundleSchema } from '@cairn/audit';
import { CairnError, parseDigest } from '@cairn/protocol';
import { z } from 'zod';
import type { ServerComposition } from '../../composition/server-composition.ts';
import { storePatchProvenance } from '../delivery/patch-provenance-bundle.ts';
import type { HttpApp } from '../../http/http-app.ts';
import { requireItem } from '../../http/require-run.ts';

const itemParams = z.strictObject({ runId: z.string().min(1).max(200), itemId: z.string().min(1).max(128) });
const description =
  'A Sigstore bundle v0.3 holding the DSSE-signed in-toto statement (SLSA Provenance v1) of the patch: verify it with cairn verify provenance, or any Sigstore verifier given the key; x-cairn-digest names the stored bundle';
// Typed as the bytes the route sends, which are never serialized (the stored bundle, exactly: its
// digest is x-cairn-digest); documented as the bundle they hold. A custom schema is drawn from its
// metadata alone, so the metadata is the bundle schema's JSON Schema.
const { $schema: _dialect, ...bundleJsonSchema } = z.toJSONSchema(sigstoreBundleSchema);
const bundleAnswer = {
  description,
  content: { 'application/json': { schema: z.custom<Uint8Array>().meta({ ...bundleJsonSchema, id: 'ProvenanceBundle', description }) } },
};

/**
 * A succeeded item's patch provenance (action `blobs.read`: scope `runs:read`, as its patch): built from the run's audit
 * entries and the attempt's stored dispatch manifest, signed with the server's signer (a key file
 * or KMS alike), stored as a content-addressed blob and answered with its digest. Signed anew on
 * each request: with an Ed25519 key the bytes are the same every time, and storing by digest
 * keeps one copy.
 */
export function registerProvenanceRoutes(app: HttpApp, { service, storage, signer, origin }: ServerComposition): void {
  app.get(
    '/v1/runs/:runId/items/:itemId/provenance',
    {
      config: { action: 'blobs.read' },
      schema: {
        operationId: 'getItemProvenance',
        summary:
          "A succeeded item's patch provenance, signed by the server: an in-toto statement (SLSA Provenance v1) in a Sigstore bundle; 404 when it changed nothing",
        params: itemParams,
        response: { 200: bundleAnswer },
      },
    },
    async (request, reply) => {
      const { runId, itemId } = request.params;
      await requireItem(service, runId, itemId);
      const patchDigest = (await service.artifacts(runId, itemId))?.['patch'];
      if (patchDigest === undefined)
        throw new CairnError('CAIRN_NOT_FOUND', `Item ${itemId} of run ${runId} has no patch: it has not succeeded, or it changed nothing.`, {
          path: 'itemId',
        });
      // The same bundle a deliver item attaches to its commit (ADR 0040).
      const { bytes, digest } = await storePatchProvenance({ service, storage, signer, origin }, runId, itemId, parseDigest(patchDigest, 'patch'));
      return reply
        .type('application/json')
        .header('x-cairn-digest', digest)
        .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    },
  );
}
