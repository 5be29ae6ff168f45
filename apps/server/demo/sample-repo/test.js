// The sample's tests: every source file carries the license header.
const fs = require('node:fs');
let failed = 0;
for (const file of ['src/alpha.ts', 'src/beta.ts']) {
  const ok = fs.readFileSync(file, 'utf8').startsWith('// SPDX-License-Identifier: Apache-2.0');
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${file} has the license header`);
  if (!ok) failed++;
}
process.exit(failed ? 1 : 0);
