import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const browserNode = (file: string) => fileURLToPath(new URL(`./src/browser-node/${file}`, import.meta.url));

// The dashboard is served by @cairn/server under /dashboard/ (apps/server/src/capabilities/dashboard/dashboard-routes.ts):
// every asset URL is relative to that base. JSX compiles to Preact's automatic runtime.
export default defineConfig({
  base: '/dashboard/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  resolve: {
    // The Evidence view runs @cairn/audit's own verifier: the Node modules it calls are given here
    // as browser modules with the same calls (src/browser-node), not stubbed out.
    // (Built packages name them without the `node:` prefix.)
    alias: [
      { find: /^(node:)?crypto$/, replacement: browserNode('node-crypto.ts') },
      { find: /^(node:)?worker_threads$/, replacement: browserNode('node-worker-threads.ts') },
    ],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Source maps stay out of what the server ships: the page weight is the JS a browser loads.
    sourcemap: false,
    reportCompressedSize: false,
  },
});
