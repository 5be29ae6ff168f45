// Renames gamma's export to GAMMA (a change no other item touches: it needs no lock).
const fs = require('node:fs');
fs.writeFileSync('src/gamma.ts', fs.readFileSync('src/gamma.ts', 'utf8').replace('gamma =', 'GAMMA ='));
console.log('src/gamma.ts: gamma is now GAMMA');
