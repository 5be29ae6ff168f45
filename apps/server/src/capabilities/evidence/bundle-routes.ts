import { serializeEvidenceBundle } from '@cairn/audit';
import type { ServerComposition } from '../../composition/server-composition.ts';
import type { HttpApp } from '../../http/http-app.ts';
import { runParams } from '../../http/request-schemas.ts';
import { bytesAnswer } from '../../http/response-schemas.ts';

/**
 * A run's evidence bundle (`audit:read`): `cairn.bundle/v1` in its canonical bytes, to verify
 * offline, with `x-cairn-signing-key` naming the key its checkpoint is signed with.
 */
export function registerBundleRoutes(app: HttpApp, { service, signingKey }: ServerComposition): void {
  app.get(
    '/v1/runs/:runId/bundle',
    {
      config: { action: 'audit.read' },
      schema: {
        operationId: 'getRunBundle',
        summary: "A run's evidence bundle (cairn.bundle/v1), to verify offline",
        params: runParams,
        response: {
          200: bytesAnswer('application/json', 'The bundle in its canonical bytes (verify it with cairn verify); x-cairn-signing-key names the key'),
        },
      },
    },
    async (request, reply) => {
      const bundle = await service.exportBundle(request.params.runId);
      return reply
        .type('application/json')
        .header('x-cairn-signing-key', signingKey.keyId)
        .send(Buffer.from(serializeEvidenceBundle(bundle)));
    },
  );
}
