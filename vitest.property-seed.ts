// Property tests draw new cases on every local run, which is how they keep finding bugs. CI pins
// the seed (scripts/test.sh sets CAIRN_PROPERTY_SEED) so a red build always reproduces; set the
// variable yourself to replay a failure fast-check reported.
import fc from 'fast-check';

const seed = process.env['CAIRN_PROPERTY_SEED'];
if (seed !== undefined && seed !== '') fc.configureGlobal({ seed: Number(seed) });
