// Strips trailing spaces from README.md.
const fs = require('node:fs');
const text = fs.readFileSync('README.md', 'utf8');
fs.writeFileSync('README.md', text.replace(/[ \t]+$/gm, ''));
console.log('README.md tidied');
