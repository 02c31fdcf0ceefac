// Plain webpack 5: nothing localrank-specific is needed. webpack sees
// new Worker(new URL('./worker-entry.js', import.meta.url)) in localrank/worker.js and emits the
// worker as a chunk, and new URL('./localrank_core_bg.wasm', import.meta.url) in the package
// and emits the wasm as an asset (asset/resource). public/ (index.html, models/) is copied to
// dist/ by the build script.
import { fileURLToPath } from 'node:url';

export default {
  entry: './src/store.js',
  output: {
    path: fileURLToPath(new URL('./dist/', import.meta.url)),
    filename: 'main.js',
    chunkFilename: '[name].[contenthash:8].js',
    assetModuleFilename: '[name].[contenthash:8][ext]',
    clean: true,
  },
  performance: { hints: false }, // the wasm runtime is ~3 MB before compression
};
