// The agent-sandbox project's CRD files (agent-sandbox/README.md), read at test time, so that what
// a test accepts is what that project publishes; checked with `checkSchema` (structural-schema.ts).
import { readFileSync } from 'node:fs';
import { loadAllYaml } from '@kubernetes/client-node';
import type { CustomResourceDefinitionDocument, StructuralSchema } from './structural-schema.ts';

export { checkSchema } from './structural-schema.ts';

/** A CRD file beside this one (`agent-sandbox/<file>`): its group, kind, plural and each version's schema. */
export function readCrd(file: string): {
  document: CustomResourceDefinitionDocument;
  group: string;
  kind: string;
  plural: string;
  schemas: ReadonlyMap<string, StructuralSchema>;
} {
  const text = readFileSync(new URL(`./agent-sandbox/${file}`, import.meta.url), 'utf8');
  // client-node's loader turns a document of a kind it models into its class (a CRD's `enum`
  // becomes `_enum`): read under a kind it does not know, the document stays as written.
  const [crd] = loadAllYaml(text.replace(/^apiVersion: apiextensions\.k8s\.io\/v1$/m, 'apiVersion: cairn.test/v1')) as {
    spec: { group: string; names: { kind: string; plural: string }; versions: { name: string; schema: { openAPIV3Schema: StructuralSchema } }[] };
  }[];
  if (crd === undefined) throw new Error(`no CustomResourceDefinition in agent-sandbox/${file}`);
  return {
    document: crd,
    group: crd.spec.group,
    kind: crd.spec.names.kind,
    plural: crd.spec.names.plural,
    schemas: new Map(crd.spec.versions.map((version) => [version.name, version.schema.openAPIV3Schema])),
  };
}
