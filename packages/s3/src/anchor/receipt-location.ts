import { decodeOrUndefined } from './decode-or-undefined.ts';

/** Where a receipt says the anchored version is: `s3://bucket/key?versionId=...` (the version id URL-encoded). */
export function receiptLocation(bucket: string, key: string, versionId: string): string {
  return `s3://${bucket}/${key}?versionId=${encodeURIComponent(versionId)}`;
}

/** `s3://bucket/key?versionId=...` split into its parts; undefined when it is not of that form. */
export function parseReceiptLocation(location: string): { readonly bucket: string; readonly key: string; readonly versionId: string } | undefined {
  if (!location.startsWith('s3://')) return undefined;
  const rest = location.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const query = rest.lastIndexOf('?versionId=');
  if (slash <= 0 || query <= slash + 1) return undefined;
  const versionId = decodeOrUndefined(rest.slice(query + '?versionId='.length));
  if (versionId === undefined || versionId.length === 0) return undefined;
  return { bucket: rest.slice(0, slash), key: rest.slice(slash + 1, query), versionId };
}
