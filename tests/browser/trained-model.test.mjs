// The model that `localrank-train all --events --catalogue` exported from files (written by
// train/tests/train_cli.rs, which `scripts/test` runs first) loads in the browser package and
// ranks the golden candidates in the order of its own native golden scores.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { startServer } from '../../scripts/serve.mjs';
import { ROOT, requireBuild, rerankGolden } from './helpers.mjs';

const MODELS = resolve(process.env.LOCALRANK_E2E_MODELS || join(ROOT, 'target', 'tmp', 'localrank-e2e', 'models'));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

test('trained-model: a model trained from files by the CLI loads and scores as natively', { timeout: 120_000 }, async (t) => {
  requireBuild();
  assert.ok(existsSync(join(MODELS, 'golden.json')),
    `${MODELS} has no exported model: run \`cargo test -p train --test train_cli\` first (scripts/test does)`);
  // The demo's tree with the CLI's model in place of models/.
  const tree = mkdtempSync(join(tmpdir(), 'localrank-e2e-'));
  for (const [name, target] of [['pkg', join(ROOT, 'pkg')], ['www', join(ROOT, 'www')], ['models', MODELS]]) {
    symlinkSync(target, join(tree, name));
  }
  const server = await startServer({ port: 0, repo: tree });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  t.after(async () => {
    await browser.close();
    await server.close();
    rmSync(tree, { recursive: true, force: true });
  });
  const page = await browser.newPage();
  await page.goto(`${server.url}/no-page`); // any same-origin document can import the package
  const golden = JSON.parse(readFileSync(join(MODELS, 'golden.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(join(MODELS, 'manifest.json'), 'utf8'));
  const { version, ranked } = await rerankGolden(page, golden);
  const result = { version, order: ranked.map((r) => r.id) };
  assert.equal(result.version, `${manifest.name}@${manifest.version}`);
  assert.equal(manifest.name, 'localrank-e2e', 'the browser must load the CLI-trained model, not the shipped one');
  const expected = golden.candidates.map((c, i) => [c.id, golden.scores[i]]).sort((a, b) => b[1] - a[1]).map(([id]) => id);
  assert.notDeepEqual(expected, golden.candidates.map((c) => c.id), 'the golden order must differ from the server order, or this check proves nothing');
  assert.deepEqual(result.order, expected, 'with personalization 1 the browser order must be the native golden score order');
});
