import { z } from 'zod';

/** `telemetry:` OpenTelemetry: off unless `traces` is set (nothing is loaded until then). */
export const telemetryConfigSchema = z
  .strictObject({
    traces: z
      .strictObject({
        /** An OTLP/HTTP traces receiver; spans are posted to it as JSON. */
        otlpEndpoint: z.url({
          protocol: /^https?$/,
          hostname: z.regexes.hostname,
          error: 'must be the http(s) URL of an OTLP/HTTP traces receiver, e.g. http://collector:4318/v1/traces',
        }),
        /** The `service.name` the spans carry. */
        serviceName: z.string().min(1, 'must name the service, e.g. cairn').default('cairn'),
        /** Sent with every export, e.g. a collector's `authorization`. */
        headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name'), z.string()).default({}),
        /**
         * OpenTelemetry's semantic-convention opt-ins, comma-separated, as `OTEL_SEMCONV_STABILITY_OPT_IN`
         * (which sets it): `gen_ai_latest_experimental` makes the spans follow the GenAI conventions.
         */
        stabilityOptIn: z.string().optional(),
      })
      .optional(),
  })
  .prefault({});
