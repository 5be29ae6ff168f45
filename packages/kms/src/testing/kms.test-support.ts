import { CairnError, isCairnError } from '@cairn/protocol';
import { afterAll, beforeAll } from 'vitest';
import { KmsTestEndpoint } from './kms-endpoint.ts';

/** One KMS test endpoint for the file's tests, started before them and stopped after. */
export function kmsEndpointForFile(): () => KmsTestEndpoint {
  let endpoint: KmsTestEndpoint | undefined;
  beforeAll(async () => {
    endpoint = await KmsTestEndpoint.start();
  });
  afterAll(async () => {
    await endpoint?.stop();
  });
  return () => {
    if (!endpoint) throw new Error('the KMS test endpoint is read outside a test');
    return endpoint;
  };
}

/** The CairnError a promise rejects with (fails the test when it resolves or rejects otherwise). */
export async function rejection(promise: Promise<unknown>): Promise<CairnError> {
  try {
    await promise;
  } catch (error) {
    if (isCairnError(error)) return error;
    throw new Error(`expected a CairnError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected a rejection, the promise resolved');
}

/** The CairnError a function throws. */
export function thrownBy(action: () => unknown): CairnError {
  try {
    action();
  } catch (error) {
    if (isCairnError(error)) return error;
    throw new Error(`expected a CairnError, got ${String(error)}`, { cause: error });
  }
  throw new Error('expected a throw, the function returned');
}

/** The KMS error name of a CairnError's cause (`DisabledException`, …). */
export function causeName(error: CairnError): string | undefined {
  return (error.cause as { name?: string } | undefined)?.name;
}
