// Starts the reference server as server.bench.ts does, submits one run of N no-op items (argv[2])
// over HTTP, follows it to its end, and prints its wall time as JSON: a process of its own, so
// strace counts the server's fsyncs and nothing else's. Run by server.bench.ts.
import { startServer, submitToCompletion } from './bench-server.ts';

const count = Number(process.argv[2]);
if (!Number.isInteger(count) || count < 1) throw new Error(`usage: server-items-child.ts <items>, not ${process.argv[2]}`);
const server = await startServer();
try {
  const { wallMs } = await submitToCompletion(server, count);
  process.stdout.write(`${JSON.stringify({ wallMs })}\n`);
} finally {
  await server.close();
}
