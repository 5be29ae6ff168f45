import { describeAuditAnchor } from '../audit-anchor/describe-audit-anchor.ts';
import { createInMemoryAuditAnchor } from './in-memory-audit-anchor.ts';

describeAuditAnchor({
  name: 'in-memory',
  create: () => createInMemoryAuditAnchor(),
  // The oracle touches the backend's object map only, like an attacker editing the anchor file.
  oracle: (anchor) => ({
    readRaw: (location) => anchor.backend.objects.get(location) ?? null,
    writeRaw: (location, bytes) => {
      anchor.backend.objects.set(location, Uint8Array.from(bytes));
    },
  }),
});
