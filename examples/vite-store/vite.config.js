// Vite and localrank (docs/api.md, "Bundlers"). With Vite 8.4.1 (this example's pin) neither
// setting below is required: on 2026-12-06 this example also passed tests/browser/examples.test.mjs
// (production build, strict CSP, dev server, page and Worker mode) with an empty config. They
// are kept as the recommended configuration:
//  - optimizeDeps.exclude: keeps the dev server from pre-bundling localrank into
//    node_modules/.vite/deps/, so that new URL('./localrank_core_bg.wasm', import.meta.url) and
//    new URL('./worker-entry.js', import.meta.url) resolve next to the package's own files
//    (required with Vite 7 and earlier: vitejs/vite#8427, fixed in Vite 8 by #21434);
//  - worker.format 'es': the worker keeps localrank.js as a chunk of its own (Vite's default,
//    'iife', inlines it into the worker; older Vite versions refuse to build a code-split iife
//    worker at all).
import { defineConfig } from 'vite';

export default defineConfig({
  optimizeDeps: { exclude: ['localrank'] },
  worker: { format: 'es' },
});
