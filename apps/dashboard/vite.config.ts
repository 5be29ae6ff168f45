import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const browserNode = (file: string) => fileURLToPath(new URL(`./src/browser-node/${file}`, import.meta.url));
// diff2html renders with Hogan templates it ships compiled: it needs Hogan's template runtime, and
// Hogan's compiler only for templates given as text, which the dashboard never gives. Resolved from
// diff2html, whose dependency Hogan is.
const hoganTemplateRuntime = createRequire(createRequire(import.meta.url).resolve('diff2html')).resolve('@profoundlogic/hogan/lib/template.js');

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
      // Hogan's runtime alone (its `Template`), without the compiler (about 2 KB gzipped): should
      // diff2html ever be asked to compile a template, `Hogan.compile` is not a function and says so.
      { find: /^@profoundlogic\/hogan$/, replacement: hoganTemplateRuntime },
    ],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Module preloading is a hint: Chromium, Firefox 115+ and Safari 17+ follow it natively, and a
    // browser without it loads a chunk's imports when the chunk runs. No polyfill in every page.
    modulePreload: { polyfill: false },
    // Source maps stay out of what the server ships: the page weight is the JS a browser loads.
    sourcemap: false,
    reportCompressedSize: false,
  },
});
