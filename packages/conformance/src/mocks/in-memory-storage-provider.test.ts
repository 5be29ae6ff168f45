import { describeStorageProvider } from '../storage-provider/describe-storage-provider.ts';
import { createInMemoryStorageProvider } from './in-memory-storage-provider.ts';

describeStorageProvider({
  name: 'in-memory',
  create: () => createInMemoryStorageProvider(),
  // The oracle reads the backing map directly, never through the provider's methods.
  oracle: (storage) => ({
    readRaw: (key) => storage.backend.get(key) ?? null,
    writeRaw: (key, body) => {
      storage.backend.set(key, Uint8Array.from(body));
    },
  }),
});
