import { z } from 'zod';

/**
 * The in-toto attestation Cairn signs for a patch: a Statement v1 whose one subject is the patch
 * and whose predicate is SLSA Provenance v1, saying which run, item and attempt made it, from what
 * (the run spec, the workspace snapshot, the input patches, the signed dispatch manifest) and with
 * which model calls. Its schema is the subset of the two specifications Cairn writes, strict, so a
 * verifier reads exactly what was signed and nothing a forger added beside it.
 */

/** The DSSE payloadType of an in-toto statement (in-toto Attestation Framework, envelope layer). */
export const inTotoPayloadType = 'application/vnd.in-toto+json';
export const inTotoStatementType = 'https://in-toto.io/Statement/v1';
export const slsaProvenancePredicateType = 'https://slsa.dev/provenance/v1';
/** What a Cairn item attempt is as a build: its parameters and dependencies are documented in docs/audit/provenance.md. */
export const cairnItemAttemptBuildType = 'cairn:build-type/item-attempt/v1';

/** A SHA-256 digest as in-toto writes it: 64 lowercase hex digits, without the `sha256:` prefix. */
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');
const digestSet = z.strictObject({ sha256: sha256Hex });
/** A Cairn digest, `sha256:<hex>`, where the statement repeats one the audit log names. */
const cairnDigest = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256: followed by 64 lowercase hex digits');
const count = z.int().min(0);

/** An in-toto ResourceDescriptor: a named thing and its digest, with what Cairn knows of it. */
const resourceDescriptor = <Annotations extends z.ZodType>(annotations: Annotations) =>
  z.strictObject({
    name: z.string().min(1),
    digest: digestSet,
    mediaType: z.string().min(1).optional(),
    annotations: annotations.optional(),
  });

export const provenanceSubjectSchema = z.strictObject({ name: z.string().min(1), digest: digestSet });

/** A resolved dependency: the workspace snapshot, the dispatch manifest, or one of the attempt's inputs. */
export const provenanceDependencySchema = resourceDescriptor(
  z.strictObject({
    /** For an input: the item it came from and what of it (`patch`, `output`). */
    from: z.string().min(1).optional(),
    select: z.string().min(1).optional(),
    /** For an input: whether its patch was applied to the workspace before the runtime started. */
    applied: z.boolean().optional(),
  }),
);

/** A model call the attempt made through the gateway: its `model.called` audit entry, by digest. */
export const provenanceModelCallSchema = resourceDescriptor(
  z.strictObject({
    /** The entry's place in the audit log (its Merkle leaf index). */
    seq: count,
    provider: z.string().min(1),
    model: z.string().min(1),
    outcome: z.enum(['success', 'failure', 'denied']),
    inputTokens: count.optional(),
    outputTokens: count.optional(),
    cacheReadTokens: count.optional(),
    cacheWriteTokens: count.optional(),
    costUsd: z.number().min(0).optional(),
  }),
);

export const provenanceStatementSchema = z.strictObject({
  _type: z.literal(inTotoStatementType),
  subject: z.tuple([provenanceSubjectSchema]),
  predicateType: z.literal(slsaProvenancePredicateType),
  predicate: z.strictObject({
    buildDefinition: z.strictObject({
      buildType: z.literal(cairnItemAttemptBuildType),
      externalParameters: z.strictObject({ runId: z.string().min(1), itemId: z.string().min(1), specDigest: cairnDigest }),
      internalParameters: z.strictObject({ attempt: z.int().min(1) }),
      resolvedDependencies: z.array(provenanceDependencySchema).min(2),
    }),
    runDetails: z.strictObject({
      builder: z.strictObject({ id: z.string().min(1), version: z.strictObject({ cairn: z.string().min(1) }) }),
      metadata: z.strictObject({ invocationId: z.string().min(1), startedOn: z.iso.datetime(), finishedOn: z.iso.datetime() }),
      byproducts: z.array(provenanceModelCallSchema),
    }),
  }),
});

/** The in-toto Statement v1 with a SLSA Provenance v1 predicate that Cairn signs for a patch. */
export type ProvenanceStatement = z.output<typeof provenanceStatementSchema>;
export type ProvenanceDependency = z.output<typeof provenanceDependencySchema>;
export type ProvenanceModelCall = z.output<typeof provenanceModelCallSchema>;
