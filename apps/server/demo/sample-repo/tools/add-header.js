// Puts a license header on top of the file named by the first argument (once).
const fs = require('node:fs');
const file = process.argv[2];
const text = fs.readFileSync(file, 'utf8');
const header = '// SPDX-License-Identifier: Apache-2.0\n';
if (!text.startsWith(header)) fs.writeFileSync(file, header + text);
console.log(`header added to ${file}`);
