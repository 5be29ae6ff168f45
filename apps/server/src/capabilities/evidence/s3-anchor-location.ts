import { CairnError } from '@cairn/protocol';

/** Where a verifier reads an S3 Object Lock anchor: the options of `createS3ObjectLockAnchor` that say where. */
export interface S3AnchorLocation {
  readonly bucket: string;
  /** '' or ending in '/'. */
  readonly prefix: string;
  readonly region?: string;
  readonly endpoint?: string;
  readonly forcePathStyle: boolean;
}

const queryOptions = ['endpoint', 'region', 'forcePathStyle'] as const;
const bucketName = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * `s3://BUCKET/PREFIX?endpoint=URL&region=REGION&forcePathStyle=true`, as `--anchor
 * s3-object-lock:<location>` names an anchor: the bucket and key prefix the server's
 * `anchors[].bucket` and `prefix` name, and, as query parameters, how to reach it (all optional:
 * AWS's endpoint, the SDK's region chain, virtual-hosted addressing). Anything else is bad input
 * (CAIRN_PAYLOAD_INVALID) naming `where` and the form to write.
 */
export function parseS3AnchorLocation(location: string, where: string): S3AnchorLocation {
  const form =
    'Write s3-object-lock:s3://<bucket>/<prefix>[?endpoint=<http(s) URL>&region=<region>&forcePathStyle=true], e.g. s3-object-lock:s3://acme-anchor/cairn/?region=eu-west-1';
  const bad = (problem: string) =>
    new CairnError('CAIRN_PAYLOAD_INVALID', `${where} ${JSON.stringify(`s3-object-lock:${location}`)} ${problem}. ${form}.`, { path: where });
  if (!location.startsWith('s3://')) throw bad('must be an s3:// location');
  const [path = '', query] = location.slice('s3://'.length).split(/\?(.*)/s, 2);
  const slash = path.indexOf('/');
  const bucket = slash < 0 ? path : path.slice(0, slash);
  const rawPrefix = slash < 0 ? '' : path.slice(slash + 1);
  if (!bucketName.test(bucket)) throw bad(`names no valid bucket (${JSON.stringify(bucket)}: 3 to 63 lowercase letters, digits, dots and hyphens)`);
  const prefix = rawPrefix === '' || rawPrefix.endsWith('/') ? rawPrefix : `${rawPrefix}/`;
  const parameters = new URLSearchParams(query ?? '');
  for (const name of new Set(parameters.keys())) {
    if (!(queryOptions as readonly string[]).includes(name)) throw bad(`has an unknown parameter ${JSON.stringify(name)} (known: ${queryOptions.join(', ')})`);
    if (parameters.getAll(name).length > 1) throw bad(`gives ${name} twice`);
  }
  const endpoint = parameters.get('endpoint') ?? undefined;
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw bad(`has an endpoint that is not an http(s) URL (${JSON.stringify(endpoint)})`);
  }
  const region = parameters.get('region') ?? undefined;
  if (region === '') throw bad('has an empty region');
  const pathStyle = parameters.get('forcePathStyle');
  if (pathStyle !== null && pathStyle !== 'true' && pathStyle !== 'false') throw bad(`has forcePathStyle=${JSON.stringify(pathStyle)} (write true or false)`);
  return { bucket, prefix, forcePathStyle: pathStyle === 'true', ...(region === undefined ? {} : { region }), ...(endpoint === undefined ? {} : { endpoint }) };
}

/**
 * Whether a receipt's location (`s3://bucket/key?versionId=...`, as the S3 anchor writes it) lies
 * inside this anchor's own bucket and prefix: only such receipts are handed to its `read`; the
 * verifier never reads where a receipt points outside the anchor it trusts.
 */
export function isReceiptInside(location: S3AnchorLocation, receiptLocation: string): boolean {
  const start = `s3://${location.bucket}/${location.prefix}`;
  return receiptLocation.startsWith(start) && receiptLocation.indexOf('?versionId=') > start.length;
}
