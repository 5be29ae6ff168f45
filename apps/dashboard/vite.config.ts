import { defineConfig } from 'vite';

// The dashboard is served by @cairn/server under /dashboard/ (apps/server/src/http/dashboard-routes.ts):
// every asset URL is relative to that base. JSX compiles to Preact's automatic runtime.
export default defineConfig({
  base: '/dashboard/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Source maps stay out of what the server ships: the page weight is the JS a browser loads.
    sourcemap: false,
    reportCompressedSize: false,
  },
});
