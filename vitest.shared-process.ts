// Every test file's setup: a vitest worker runs its files one after another in one process
// (`isolate: false`, vitest.shared.ts), so what a file stubbed is undone when the file ends, whether
// or not the file remembers to. Not after each test (vitest's `unstubEnvs`): a stub a `beforeAll`
// made must last the file.
import { afterAll, vi } from 'vitest';

afterAll(() => {
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
});
