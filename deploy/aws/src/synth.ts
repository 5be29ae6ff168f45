// Writes deploy/aws/cairn.template.json (pnpm --filter @cairn/deploy-aws synth). A test checks the
// committed file equals a fresh synthesis, so edit the stack and run this, never the JSON.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderTemplate, synthesizeCairnTemplate } from './synthesize-template.ts';

const target = fileURLToPath(new URL('../cairn.template.json', import.meta.url));
writeFileSync(target, renderTemplate(synthesizeCairnTemplate().template));
console.log(`wrote ${target}`);
