// zod compiles an object schema's parser with `new Function`, and the first object schema it
// builds probes whether it may (`Function('')`, caught). Under the dashboard's policy
// (`script-src 'self'`, no 'unsafe-eval') the probe fails quietly but is still a reported CSP
// violation on every load of the Evidence view, which drowns the reports of a real injection.
// Without JIT, zod neither probes nor compiles: its parsers interpret the schema, as they already
// had to here. Set before @cairn/protocol builds its schemas (it does as it loads), so this module
// is imported ahead of the verifier; the server runs its own zod and keeps the JIT.
import { config } from 'zod';

config({ jitless: true });
