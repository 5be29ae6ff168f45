// Stands in for the real cairn-worker bundle when packages/fargate/dist/cairn-worker.js is not
// built: reports what the entrypoint sees inside the image, as one JSON line.
import { writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

function tryWrite(path) {
  try {
    writeFileSync(path, 'x');
    return 'written';
  } catch (error) {
    return error.code;
  }
}

console.log(
  JSON.stringify({
    uid: process.getuid(),
    gid: process.getgid(),
    cwd: process.cwd(),
    node: process.version,
    git: execFileSync('git', ['--version'], { encoding: 'utf8' }).trim(),
    env: process.env,
    argv: process.argv.slice(1),
    writeRoot: tryWrite('/written-by-worker'),
    writeTmp: tryWrite('/tmp/written-by-worker'),
  }),
);
