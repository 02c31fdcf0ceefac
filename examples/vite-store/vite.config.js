// What a Vite site needs for localrank (docs/api.md, "Bundlers"):
//  - optimizeDeps.exclude: the dev server's dependency pre-bundling (esbuild/rolldown into
//    node_modules/.vite/deps/) moves localrank's modules away from their files, so
//    new URL('./localrank_core_bg.wasm', import.meta.url) and the worker's
//    new URL('./worker-entry.js', import.meta.url) would point at files that are not there;
//  - worker.format 'es': the worker imports localrank.js lazily (a code-split worker), which
//    Vite's default worker format, 'iife', cannot build.
import { defineConfig } from 'vite';

export default defineConfig({
  optimizeDeps: { exclude: ['localrank'] },
  worker: { format: 'es' },
});
