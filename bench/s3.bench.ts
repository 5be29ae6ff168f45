// The S3 storage provider against raw SDK calls on the same server (the test radosgw on loopback):
// what the provider adds to a put and a get of a 1 KiB and a 1 MiB object (key checks, the copy of
// the body, the write id, retries' bookkeeping). Reported as ratios, measured in turns, so the
// server's own speed and a busy neighbour weigh on both alike.
import { randomBytes } from 'node:crypto';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createS3StorageProvider } from '@cairn/s3';
import { createTestBucket, deleteTestBucket, radosgwClient } from '@cairn/s3/testing';
import startRadosgw from '../packages/s3/src/testing/radosgw.global-setup.ts';
import { atMostTimes, recorded, timeMilliseconds, type BenchmarkContext, type BenchmarkRow } from './measure.ts';

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export default async function s3Benchmarks({ log }: BenchmarkContext): Promise<BenchmarkRow[]> {
  startRadosgw();
  const client = () => radosgwClient({ maxAttempts: 1 });
  const raw = client();
  const bucket = await createTestBucket(raw);
  const storage = createS3StorageProvider({ bucket, client: client() });
  await storage.probe();
  const rows: BenchmarkRow[] = [];
  try {
    for (const [label, size, rounds] of [
      ['1kib', 1024, 200],
      ['1mib', 1024 * 1024, 40],
    ] as const) {
      log(`  put and get of ${label} objects: provider vs raw SDK, ${rounds} rounds each`);
      const body = randomBytes(size);
      const times = { providerPut: [] as number[], rawPut: [] as number[], providerGet: [] as number[], rawGet: [] as number[] };
      for (let round = 0; round < rounds + 5; round++) {
        const warm = round < 5;
        // Which goes first alternates: radosgw answers a small GET slower or faster depending on
        // what the connection did before (delayed ACKs), and both sides must meet that alike.
        const providerFirst = round % 2 === 0;
        const puts = [
          () => timeMilliseconds(() => storage.put(`bench/${label}/provider-${round}`, body)),
          () => timeMilliseconds(() => raw.send(new PutObjectCommand({ Bucket: bucket, Key: `bench/${label}/raw-${round}`, Body: body }))),
        ];
        const gets = [
          () => timeMilliseconds(() => storage.get(`bench/${label}/provider-${round}`)),
          () =>
            timeMilliseconds(async () => {
              const response = await raw.send(new GetObjectCommand({ Bucket: bucket, Key: `bench/${label}/raw-${round}` }));
              await response.Body!.transformToByteArray();
            }),
        ];
        const inTurn = async (pair: (() => Promise<number>)[]) => {
          if (providerFirst) return [await pair[0]!(), await pair[1]!()] as const;
          const second = await pair[1]!();
          return [await pair[0]!(), second] as const;
        };
        const [providerPut, rawPut] = await inTurn(puts);
        const [providerGet, rawGet] = await inTurn(gets);
        if (warm) continue;
        times.providerPut.push(providerPut);
        times.rawPut.push(rawPut);
        times.providerGet.push(providerGet);
        times.rawGet.push(rawGet);
      }
      const rawPut = recorded(`s3.raw-sdk.put-${label}.p50-ms`, round2(median(times.rawPut)), 'ms');
      const rawGet = recorded(`s3.raw-sdk.get-${label}.p50-ms`, round2(median(times.rawGet)), 'ms');
      rows.push(
        rawPut,
        atMostTimes(`s3.provider.put-${label}.p50-ms`, round2(median(times.providerPut)), 'ms', rawPut, 1.25),
        recorded(`s3.provider-vs-raw.put-${label}.ratio`, round2(median(times.providerPut) / median(times.rawPut)), 'x'),
        rawGet,
        atMostTimes(`s3.provider.get-${label}.p50-ms`, round2(median(times.providerGet)), 'ms', rawGet, 1.25),
        recorded(`s3.provider-vs-raw.get-${label}.ratio`, round2(median(times.providerGet) / median(times.rawGet)), 'x'),
      );
    }
  } finally {
    await deleteTestBucket(raw, bucket);
  }
  return rows;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
