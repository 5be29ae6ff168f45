const encoder = new TextEncoder();

/**
 * DSSE's pre-authentication encoding, the bytes a DSSE signature covers:
 * `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths as ASCII decimal byte counts.
 * Binding the type into the signed bytes is what stops a signed manifest from being presented as
 * a checkpoint.
 */
export function preAuthenticationEncoding(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = encoder.encode(payloadType);
  const header = encoder.encode(`DSSEv1 ${type.byteLength} ${payloadType} ${payload.byteLength} `);
  const bytes = new Uint8Array(header.byteLength + payload.byteLength);
  bytes.set(header, 0);
  bytes.set(payload, header.byteLength);
  return bytes;
}
