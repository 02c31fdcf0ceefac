// Randomised test of the package in headless Chromium: thousands of generated inputs (gen.mjs),
// valid ones mixed with hostile ones (deep, cyclic, Proxy, revoked, throwing getters, wrong
// types, huge and odd unicode strings, duplicate ids, 0-6,000 candidates, GA4 events, mangled
// sessions, re-entrant getters), against LocalRanker (page) and LocalRankerWorker (worker).
//
// For every call: (1) it settles within CALL_MS; (2) a failure is an Error whose message starts
// with "localrank:" (no trap, no dead instance); (3) a failed call leaves exportSession() as it
// was; (4) a successful rerank returns distinct input ids (String(id) for numbers), all of them
// or the first min(topK, n), each with a finite score and the serverRank of that id; a create
// that succeeds gives a ranker that works. After each mode (5) the ranker and a new one still
// rerank the demo's 100 candidates. Re-entrant inputs (a getter that calls rerank) and some topK
// inputs are also run as a plain twin: the order must be the twin's (or its prefix).
// The second test replays the smallest inputs of the defects random runs have found.
//
//   LOCALRANK_FUZZ_SEED=<seed>        replay a run (printed by every run; default: the clock)
//   LOCALRANK_FUZZ_INPUTS=<n>         inputs, 5/6 in the page and 1/6 in the worker (default 6000)
//   LOCALRANK_FUZZ_REPLAY=page:12,worker:7   only these inputs of the seed (each input has its
//                                     own PRNG stream; the session it meets may differ)
//   LOCALRANK_FUZZ_CALL_MS=<ms>       the per-call bound (default 20000)
//
// Inputs are generated inside the page (gen.mjs, served to it here): Proxies, getters and
// functions cannot be sent from Node. Results: t.diagnostic and tests/artifacts/fuzz-browser.json.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { artifactPath, gotoReady, openDemo } from './helpers.mjs';

const SEED = process.env.LOCALRANK_FUZZ_SEED || String(Date.now());
// 5,000 page + 1,000 worker inputs: about 30 s on a 2-core machine (measured: ~250 page and
// ~150 worker inputs a second; a worker create costs ~0.1 s, a page create ~50 ms).
const TOTAL = Number(process.env.LOCALRANK_FUZZ_INPUTS || 6000);
const CALL_MS = Number(process.env.LOCALRANK_FUZZ_CALL_MS || 20_000);
const COUNTS = { page: Math.round((TOTAL * 5) / 6), worker: TOTAL - Math.round((TOTAL * 5) / 6) };
const REPLAY = (process.env.LOCALRANK_FUZZ_REPLAY || '')
  .split(',')
  .filter(Boolean)
  .map((s) => {
    const [mode, index] = s.trim().split(':');
    assert.ok(['page', 'worker'].includes(mode) && /^\d+$/.test(index), `LOCALRANK_FUZZ_REPLAY: "${s}" is not page:N or worker:N`);
    return { mode, index: Number(index) };
  });
assert.ok(Number.isSafeInteger(TOTAL) && TOTAL >= 0, `LOCALRANK_FUZZ_INPUTS: ${process.env.LOCALRANK_FUZZ_INPUTS}`);
// Inputs per page.evaluate: small enough that Node sees progress, large enough to be cheap.
const BATCH = 50;
// A page that answers nothing for this long is hung synchronously (the in-page bound cannot fire).
const STALL_MS = 3 * CALL_MS + 30_000;
const GEN_SOURCE = readFileSync(new URL('./gen.mjs', import.meta.url), 'utf8');

async function setup(t) {
  const { page, url, logs } = await openDemo(t, { timeout: STALL_MS });
  await page.route(`${url}__fuzz/gen.mjs`, (route) => route.fulfill({ body: GEN_SOURCE, contentType: 'text/javascript' }));
  // Before each call the page says which input it is: if the page then stops answering (a
  // synchronous hang), Node still knows what to report.
  const progress = { label: 'setup', at: Date.now() };
  await page.exposeBinding('__fuzzAt', (_source, label) => {
    progress.label = label;
    progress.at = Date.now();
  });
  await gotoReady(page, `${url}?device=cpu&worker=0`, logs);
  return { page, logs, progress };
}

/** page.evaluate, failing with the input in progress when the page stops answering. */
async function watched(page, progress, fn, arg) {
  progress.at = Date.now();
  let timer;
  const stalled = new Promise((_, reject) => {
    timer = setInterval(() => {
      if (Date.now() - progress.at > STALL_MS) {
        reject(new Error(`the page answered nothing for ${STALL_MS / 1000} s (a synchronous hang) during: ${progress.label}`));
      }
    }, 1000);
  });
  try {
    return await Promise.race([page.evaluate(fn, arg), stalled]);
  } finally {
    clearInterval(timer);
  }
}

// ------------------------------------------------------------------ page side
// The functions below run in the page (page.evaluate serialises them): no closures over Node.

/** Runs the inputs `indices` of `mode` against the mode's ranker, checking every call. */
async function fuzzBatch({ mode, seed, indices, callMs }) {
  const gen = await import('/__fuzz/gen.mjs');
  const Cls = mode === 'worker' ? (await import('/pkg/worker.js')).LocalRankerWorker : (await import('/pkg/localrank.js')).LocalRanker;
  const demo = window.demo;
  const F = (window.__fuzz ??= {});
  const S = (F[mode] ??= {
    ranker: null, tried: 0, ok: 0, errors: {}, ops: {}, defects: {}, defectCount: 0, replaced: 0,
    ms: 0, slowest: { ms: 0, input: null }, skipped: {}, lastHealthy: -1,
  });

  // ---- helpers (defined here: page.evaluate sends this function's text, nothing around it)
  const settle = async (fn) => {
    let timer;
    const hung = new Promise((resolve) => { timer = setTimeout(() => resolve({ outcome: 'hung' }), callMs); });
    const t0 = performance.now();
    const run = (async () => {
      try {
        return { outcome: 'ok', value: await fn() };
      } catch (error) {
        return { outcome: 'error', error };
      }
    })();
    const out = await Promise.race([run, hung]);
    clearTimeout(timer);
    out.ms = performance.now() - t0;
    return out;
  };
  const safeText = (e) => {
    try {
      if (typeof e === 'string') return `the string ${JSON.stringify(e.slice(0, 200))}`;
      if (typeof e === 'symbol') return 'a symbol';
      if (e === null || typeof e !== 'object') return `${typeof e} ${String(e)}`;
      return `${Object.prototype.toString.call(e)} ${String(e?.message ?? '').slice(0, 200)}`;
    } catch {
      return 'an unreadable value';
    }
  };
  const messageOf = (e) => {
    try {
      return e instanceof Error ? String(e.message) : safeText(e);
    } catch {
      return 'an unreadable error';
    }
  };
  // Errors grouped by message with the variable parts (indices, numbers, quoted text) blanked.
  // Unrolled loops, not `(?:a|b)*`: that form keeps a backtrack point per character and
  // overflowed V8's stack on a multi-megabyte string in gen.mjs (seed 1796688189844).
  const classOf = (m) => String(m)
    .replace(/"[^"\\]*(?:\\.[^"\\]*)*"|`[^`]*`|'[^']*'/g, '"…"')
    .replace(/\([^()]*(?:\([^()]*\)[^()]*)*\)/g, '(…)')
    .replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, 'N')
    .slice(0, 140);
  /** What is wrong with a rejection (null: a proper localrank Error). */
  const errorProblem = (e, op) => {
    let isError = false;
    try {
      isError = e instanceof Error;
    } catch {}
    if (!isError) return { kind: 'non-Error rejection', detail: safeText(e) };
    const m = messageOf(e);
    if (e instanceof WebAssembly.RuntimeError || /unreachable|memory access out of bounds|recursive use of an object|RuntimeError|null pointer passed to rust|internal error/i.test(m)) {
      return { kind: 'trap', detail: m };
    }
    if (!m.startsWith('localrank:')) return { kind: 'error without "localrank:"', detail: `${e.name}: ${m}` };
    // A new LocalRankerWorker whose workerUrl is no worker is broken from the start: that is
    // the right answer to create, not a dead instance of ours.
    if (/broken: create a new one/.test(m) && !(op === 'create' && /worker failed/.test(m))) return { kind: 'dead instance', detail: m };
    return null;
  };
  const defect = (kind, index, input, detail) => {
    S.defectCount++;
    // Grouped by kind and the class of the first problem named (a result can have several).
    const cls = classOf(String(detail).split('; ')[0]);
    const d = (S.defects[`${kind} | ${cls}`] ??= { kind, class: cls, count: 0, examples: [] });
    d.count++;
    if (d.examples.length < 3) d.examples.push({ mode, index, input: String(input?.desc ?? input ?? '').slice(0, 900), detail: String(detail).slice(0, 900) });
  };
  const fresh = () => Cls.create({ model: '/models/', device: 'cpu' });
  const replace = async () => {
    try {
      S.ranker?.dispose();
    } catch {}
    S.ranker = null;
    S.replaced++;
    S.ranker = await fresh(); // if even this fails, the batch fails: the module is dead
  };
  const sessionOf = async () => {
    try {
      return { ok: true, text: await S.ranker.exportSession() };
    } catch (e) {
      return { ok: false, message: messageOf(e) };
    }
  };

  /** Problems of a successful rerank's result (4). */
  const rankedProblems = (out, { ids, n, topK, explain }) => {
    if (!Array.isArray(out)) return [`resolved to ${safeText(out)}, not an array`];
    const problems = [];
    if (n !== null && topK !== undefined) {
      const want = topK === null ? n : Math.min(topK, n);
      if (out.length !== want) problems.push(`${out.length} results for ${n} candidates${topK === null ? '' : ` and topK ${topK}`}, expected ${want}`);
    }
    const seen = new Set();
    for (const [k, r] of out.entries()) {
      if (problems.length >= 4) break;
      const at = `result[${k}]`;
      if (r === null || typeof r !== 'object') { problems.push(`${at} is ${safeText(r)}`); continue; }
      if (typeof r.id !== 'string') problems.push(`${at}.id is ${safeText(r.id)}, not a string`);
      else if (seen.has(r.id)) problems.push(`${at}.id ${JSON.stringify(r.id)} appears twice`);
      seen.add(r.id);
      if (typeof r.score !== 'number' || !Number.isFinite(r.score)) problems.push(`${at}.score is ${safeText(r.score)}`);
      if (!Number.isInteger(r.serverRank) || r.serverRank < 1 || (n !== null && r.serverRank > n)) problems.push(`${at}.serverRank is ${safeText(r.serverRank)}`);
      if (ids && typeof r.id === 'string') {
        if (!ids.includes(r.id)) problems.push(`${at}.id ${JSON.stringify(r.id.slice(0, 60))} is not an input id (String(id))`);
        else if (ids[r.serverRank - 1] !== r.id) problems.push(`${at}: serverRank ${r.serverRank} belongs to ${JSON.stringify(String(ids[r.serverRank - 1]).slice(0, 40))}, not to ${JSON.stringify(r.id.slice(0, 40))}`);
      }
      if (explain && !Array.isArray(r.reasons)) problems.push(`${at}.reasons is ${safeText(r.reasons)} with explain: true`);
    }
    return problems;
  };

  // ---- the environment the generators draw from
  if (!F.modelBytes) {
    const get = async (p) => new Uint8Array(await (await fetch(`/models/${p}`)).arrayBuffer());
    const manifest = await get('manifest.json');
    const files = JSON.parse(new TextDecoder().decode(manifest)).files;
    F.modelBytes = { manifest, weights: await get(files.weights.path), tokenizer: await get(files.tokenizer.path) };
  }
  let current = null;
  let reentry = true;
  const env = {
    mode,
    candidates: demo.candidates,
    catalog: demo.catalog.items.map(({ id, title, category }) => ({ id, title, category })),
    modelBytes: F.modelBytes,
    // A getter that calls back into the ranker: a rerank of the current input's candidates in
    // another order, left running (its outcome is not this test's business).
    reenter: () => {
      if (!reentry || !S.ranker) return;
      try {
        Promise.resolve(S.ranker.rerank(current?.reenterWith ?? demo.candidates)).catch(() => {});
      } catch {}
    },
  };

  if (!S.ranker) S.ranker = await fresh();
  for (const index of indices) {
    const r = new gen.Rng(gen.inputSeed(seed, mode, index));
    const input = gen.generateInput(r, env);
    current = input;
    window.__fuzzAt(`${mode} #${index}: ${input.desc}`.slice(0, 1500)).catch(() => {});
    const ranker = S.ranker;
    const before = await sessionOf();
    if (!before.ok) {
      defect('dead instance', index, 'before this input', `exportSession failed: ${before.message}`);
      await replace();
      continue;
    }
    if (input.op === 'importSession' && typeof ranker.importSession !== 'function') {
      S.skipped.importSession = (S.skipped.importSession ?? 0) + 1; // see the report
      continue;
    }
    const call = async () => {
      switch (input.op) {
        case 'importSession': {
          const s = input.session;
          return ranker.importSession(s.current ? s.apply(before.text) : s.value);
        }
        case 'create': {
          const made = await Cls.create(...input.args);
          try {
            return { created: (await made.rerank(demo.candidates)).length };
          } catch (e) {
            return { created: `a rerank of the demo's candidates failed: ${messageOf(e)}` };
          } finally {
            made.dispose();
          }
        }
        case 'exportSession':
        case 'clear':
          return ranker[input.op]();
        default:
          return ranker[input.op](...input.args);
      }
    };
    const res = await settle(call);
    const op = (S.ops[input.op] ??= { tried: 0, ok: 0, error: 0, ms: 0 });
    S.tried++;
    op.tried++;
    op.ms += res.ms;
    S.ms += res.ms;
    if (res.ms > S.slowest.ms) S.slowest = { ms: Math.round(res.ms), input: `#${index}: ${input.desc.slice(0, 300)}` };

    if (res.outcome === 'hung') {
      defect('hang', index, input, `${input.op} did not settle within ${callMs} ms`);
      await replace();
      continue;
    }
    // A synchronous call cannot be cut off by the timer: a long one is reported here.
    if (res.ms > callMs) defect('hang', index, input, `${input.op} took ${Math.round(res.ms)} ms (bound ${callMs} ms)`);
    let broken = false;
    if (res.outcome === 'error') {
      op.error++;
      const m = messageOf(res.error);
      const cls = classOf(m);
      S.errors[cls] = (S.errors[cls] ?? 0) + 1;
      const p = errorProblem(res.error, input.op);
      if (p) defect(p.kind, index, input, p.detail);
      broken = p?.kind === 'trap' || p?.kind === 'dead instance';
      const after = await sessionOf();
      if (!after.ok) {
        defect('dead instance', index, input, `exportSession fails after the failed call (${m}): ${after.message}`);
        broken = true;
      } else if (after.text !== before.text) {
        defect('session changed by a failed call', index, input, `${m} | before: ${before.text.slice(0, 200)} | after: ${after.text.slice(0, 200)}`);
      }
    } else {
      op.ok++;
      S.ok++;
      if (input.op === 'rerank') {
        const problems = rankedProblems(res.value, input.expect);
        if (problems.length) defect('wrong rerank result', index, input, problems.join('; '));
      }
      if (input.op === 'create' && res.value?.created !== 100) {
        defect('created ranker does not work', index, input, String(res.value?.created));
      }
    }
    // The re-entrant and topK inputs have a plain twin (topK dropped): the call must have come
    // out as the twin's order, or its prefix.
    if (input.twin && !broken && (res.outcome === 'ok' || input.reenterWith)) {
      reentry = false;
      let args;
      try {
        args = input.twin();
      } finally {
        reentry = true;
      }
      if (args[2] && typeof args[2] === 'object') delete args[2].topK;
      const ref = await settle(() => S.ranker.rerank(...args));
      if (ref.outcome === 'ok' && res.outcome === 'ok') {
        const got = res.value.map((x) => x.id);
        const want = ref.value.map((x) => x.id).slice(0, got.length);
        const at = got.findIndex((id, k) => id !== want[k]);
        if (at >= 0) defect('wrong rerank result', index, input, `differs from the same call without getters at ${at}: ${JSON.stringify(got.slice(at, at + 3))} vs ${JSON.stringify(want.slice(at, at + 3))}`);
      } else if (ref.outcome !== res.outcome) {
        const say = (x) => (x.outcome === 'error' ? `failed (${messageOf(x.error)})` : x.outcome === 'ok' ? 'succeeded' : x.outcome);
        defect('wrong rerank result', index, input, `the call ${say(res)}, the same call without getters ${say(ref)}`);
      }
    }
    if (broken) await replace();
    // Every 100 inputs: the ranker must still rerank the demo's candidates.
    if (index % 100 === 99) {
      const h = await settle(() => S.ranker.rerank(demo.candidates));
      if (h.outcome !== 'ok' || h.value.length !== 100) {
        defect('dead instance', index, `inputs ${S.lastHealthy + 1}..${index}`, `a normal rerank after them: ${h.outcome === 'error' ? messageOf(h.error) : h.outcome}`);
        await replace();
      } else S.lastHealthy = index;
    }
  }
  current = null;
}

/** The mode's counters (the ranker itself stays in the page). */
function fuzzStats(mode) {
  const { ranker, ...stats } = window.__fuzz?.[mode] ?? {};
  return JSON.parse(JSON.stringify(stats));
}

/** (5): the mode's ranker, and a new one, rerank the demo's 100 candidates. */
async function fuzzFinal(mode) {
  const Cls = mode === 'worker' ? (await import('/pkg/worker.js')).LocalRankerWorker : (await import('/pkg/localrank.js')).LocalRanker;
  const cands = window.demo.candidates;
  const S = window.__fuzz?.[mode];
  const count = async (ranker) => {
    try {
      const out = await ranker.rerank(cands, { pageType: 'home' });
      return out.length;
    } catch (e) {
      return `failed: ${String(e?.message ?? e)}`;
    }
  };
  const existing = S?.ranker ? await count(S.ranker) : 'no ranker';
  let created;
  try {
    const f = await Cls.create({ model: '/models/', device: 'cpu' });
    created = await count(f);
    f.dispose();
  } catch (e) {
    created = `create failed: ${String(e?.message ?? e)}`;
  }
  S?.ranker?.dispose();
  return { existing, created };
}

// ------------------------------------------------------------------ Node side

const round = (x) => Math.round(x * 10) / 10;

test('fuzz: generated inputs in the page and in the worker', { timeout: Math.max(900_000, TOTAL * 400) }, async (t) => {
  const rerun = `LOCALRANK_FUZZ_SEED=${SEED} LOCALRANK_FUZZ_INPUTS=${TOTAL} node --test --test-concurrency=1 tests/browser/fuzz.test.mjs`;
  t.diagnostic(`seed ${SEED}; replay: ${rerun}`);
  const { page, logs, progress } = await setup(t);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const report = { seed: SEED, inputs: TOTAL, replay: REPLAY.length ? REPLAY : undefined, callMs: CALL_MS, rerun, modes: {} };
  const write = () => writeFileSync(artifactPath('fuzz-browser.json'), `${JSON.stringify(report, null, 2)}\n`);

  let hung = null; // a page hung synchronously answers nothing more: worker mode is skipped
  for (const mode of ['page', 'worker']) {
    await t.test(`${mode} mode`, { skip: hung ? `the page hung in ${hung} mode` : false }, async (st) => {
      const indices = REPLAY.length ? REPLAY.filter((x) => x.mode === mode).map((x) => x.index) : Array.from({ length: COUNTS[mode] }, (_, i) => i);
      if (!indices.length) return st.skip('LOCALRANK_FUZZ_REPLAY names no input of this mode');
      const started = Date.now();
      let fatal = null;
      try {
        for (let k = 0; k < indices.length; k += BATCH) {
          await watched(page, progress, fuzzBatch, { mode, seed: SEED, indices: indices.slice(k, k + BATCH), callMs: CALL_MS });
        }
      } catch (e) {
        fatal = `${e.message}\n${logs.slice(-5).join('\n')}`;
        if (e.message.includes('synchronous hang')) hung = mode;
      }
      const stats = hung ? {} : await page.evaluate(fuzzStats, mode);
      const final = hung ? null : await watched(page, progress, fuzzFinal, mode);
      const seconds = (Date.now() - started) / 1000;
      const defects = Object.values(stats.defects ?? {}).sort((a, b) => b.count - a.count);
      const errors = Object.entries(stats.errors ?? {}).sort((a, b) => b[1] - a[1]);
      report.modes[mode] = {
        tried: stats.tried, ok: stats.ok, seconds: round(seconds), inputsPerSecond: round(stats.tried / seconds),
        ops: stats.ops, skipped: stats.skipped, rankersReplaced: stats.replaced, slowest: stats.slowest,
        final, fatal, defectCount: stats.defectCount ?? 0, defects, errorsByClass: Object.fromEntries(errors),
      };
      report.pageErrors = pageErrors.slice(0, 20);
      write();

      st.diagnostic(`${mode}: ${stats.tried} inputs in ${round(seconds)} s (${stats.ok} ok, ${stats.tried - stats.ok} rejected, ${errors.length} error classes), slowest ${stats.slowest?.ms} ms`);
      for (const [name, o] of Object.entries(stats.ops ?? {})) st.diagnostic(`  ${name}: ${o.tried} (${o.ok} ok, ${o.error} errors), ${round(o.ms / Math.max(1, o.tried))} ms each`);
      for (const [cls, n] of errors.slice(0, 12)) st.diagnostic(`  ${String(n).padStart(5)} × ${cls}`);
      if (errors.length > 12) st.diagnostic(`  … ${errors.length - 12} more classes in tests/artifacts/fuzz-browser.json`);
      for (const [what, n] of Object.entries(stats.skipped ?? {})) st.diagnostic(`  skipped ${n} × ${what}: LocalRankerWorker has no such method`);
      for (const d of defects) {
        st.diagnostic(`  DEFECT ${d.count} × ${d.kind}: ${d.examples[0].detail}`);
        st.diagnostic(`    first: LOCALRANK_FUZZ_REPLAY=${mode}:${d.examples[0].index} ${d.examples[0].input}`);
      }

      assert.equal(fatal, null, `${mode} mode stopped (seed ${SEED}): ${fatal}`);
      assert.deepEqual(final, { existing: 100, created: 100 }, `${mode} mode: after the run the ranker and a new one must rerank the demo's 100 candidates (seed ${SEED})`);
      assert.equal(
        defects.length, 0,
        `${mode} mode (seed ${SEED}): ${stats.defectCount} calls broke the contract:\n` +
          defects.map((d) => `- ${d.count} × ${d.kind}: ${d.examples[0].detail}\n  e.g. LOCALRANK_FUZZ_REPLAY=${mode}:${d.examples[0].index}: ${d.examples[0].input}`).join('\n'),
      );
    });
  }
  if (pageErrors.length) t.diagnostic(`uncaught errors in the page: ${pageErrors.length} (first: ${pageErrors[0]})`);
});

// ------------------------------------------------------------------ found by the fuzzer
// The smallest inputs of the defects random runs found (seed and index in the report), checked
// on every run whatever the seed. Each `run(mod, ranker, cands)` is page-side code (`mod`:
// the mode's module, `ranker`: a ranker of that mode); it must settle, fail only with a
// "localrank:" Error and leave the session as it was, and `check` judges what it resolved to.
const revoked = `(() => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return proxy; })()`;
const CASES = [
  {
    what: 'a revoked Proxy as the value of a field (error text built from it)',
    modes: ['page'],
    run: `(mod, ranker) => ranker.observe({ event: 'view_item', id: '1', title: ${revoked} })`,
  },
  {
    what: 'a getter on options that re-enters rerank with the same candidates reversed',
    modes: ['page'],
    // The JSON of the outer call sat in a buffer the inner call reused: the outer call ranked
    // the inner call's list (same length in bytes) and gave ids the serverRanks of others.
    run: `async (mod, ranker, cands) => {
      const options = { get explain() { ranker.rerank([...cands].reverse()).catch(() => {}); return true; } };
      const out = await ranker.rerank(cands, { pageType: 'home' }, options);
      const plain = await ranker.rerank(cands, { pageType: 'home' }, { explain: true });
      return { ids: out.map((r) => r.id), ranks: out.map((r) => r.serverRank), plain: plain.map((r) => r.id), input: cands.map((c) => String(c.id)) };
    }`,
    check: (v) => {
      const wrong = v.ids.filter((id, k) => v.input[v.ranks[k] - 1] !== id).length;
      assert.equal(wrong, 0, `${wrong} of ${v.ids.length} results carry the serverRank of another candidate`);
      assert.deepEqual(v.ids, v.plain, 'the order must be that of the same call without the getter');
    },
  },
  {
    what: 'an id with a lone surrogate comes back as given',
    modes: ['page', 'worker'],
    run: `async (mod, ranker) => (await ranker.rerank([{ id: 'a\\uD800', title: 'Heat (1995)' }, { id: 'b', title: 'Fargo (1996)' }])).map((r) => r.id).sort()`,
    // Refusing such an id with a "localrank:" Error would pass too (check runs on success only).
    check: (ids) => assert.deepEqual(ids, ['a\uD800', 'b'], 'ids must be the input ids, not re-encoded ones'),
  },
  ...[
    ['an Error whose message getter throws', `Object.defineProperty(new Error('x'), 'message', { get() { throw new Error('nested'); } })`],
    ['a Symbol', `Symbol('thrown')`],
    ['a revoked Proxy', revoked],
  ].map(([thrown, src]) => ({
    what: `a getter that throws ${thrown} (worker: the message of the clone error)`,
    modes: ['page', 'worker'],
    run: `(mod, ranker) => ranker.observe({ event: 'view_item', id: '1', get title() { throw ${src}; } })`,
  })),
  ...[
    ['options.model "http://["', `{ model: 'http://[' }`],
    ['options.workerUrl "http://["', `{ model: '/models/', device: 'cpu', workerUrl: 'http://[' }`],
    ['options.workerUrl a null-prototype object', `{ model: '/models/', device: 'cpu', workerUrl: Object.create(null) }`],
    ['options.workerUrl a Symbol', `{ model: '/models/', device: 'cpu', workerUrl: Symbol('u') }`],
    ['options a revoked Proxy', revoked],
    ['options.model a throwing getter', `{ get model() { throw new Error('boom'); } }`],
    ['options a Proxy whose ownKeys trap throws', `new Proxy({ model: '/models/' }, { ownKeys() { throw new Error('trap'); } })`],
    ['options.workerUrl a module that never answers', `{ model: '/models/', device: 'cpu', workerUrl: '/pkg/localrank.js' }`],
  ].map(([what, src]) => ({
    what: `create with ${what}`,
    // workerUrl is LocalRankerWorker's own option (LocalRanker refuses it as unknown).
    modes: what.includes('workerUrl') ? ['worker'] : ['page', 'worker'],
    run: `async (mod) => { const r = await mod.create(${src}); r.dispose(); return 'created'; }`,
  })),
];

/** Runs one case in the page, as fuzzBatch judges a call: outcome, and the session around it. */
async function runCase({ mode, src, callMs }) {
  const mod = mode === 'worker' ? (await import('/pkg/worker.js')).LocalRankerWorker : (await import('/pkg/localrank.js')).LocalRanker;
  const F = (window.__fuzzCases ??= {});
  F[mode] ??= await mod.create({ model: '/models/', device: 'cpu' });
  const ranker = F[mode];
  const cands = window.demo.candidates;
  await ranker.observe({ event: 'view_item', id: cands[3].id, title: cands[3].title, category: cands[3].category });
  const before = await ranker.exportSession();
  let timer;
  const hung = new Promise((resolve) => { timer = setTimeout(() => resolve({ outcome: 'hung' }), callMs); });
  const run = (async () => {
    try {
      return { outcome: 'ok', value: await (0, eval)(`(${src})`)(mod, ranker, cands) };
    } catch (e) {
      let isError = false;
      try {
        isError = e instanceof Error;
      } catch {}
      let message;
      try {
        message = isError ? String(e.message) : typeof e === 'symbol' ? 'a symbol' : String(e);
      } catch {
        message = 'an unreadable value';
      }
      return { outcome: 'error', isError, name: isError ? e.name : typeof e, message };
    }
  })();
  const out = await Promise.race([run, hung]);
  clearTimeout(timer);
  try {
    out.sessionKept = (await ranker.exportSession()) === before;
  } catch (e) {
    out.sessionKept = `exportSession failed: ${e.message}`;
  }
  return JSON.parse(JSON.stringify(out));
}

test('fuzz: the smallest inputs of the defects found so far', { timeout: 600_000 }, async (t) => {
  const { page, progress } = await setup(t);
  let hung = null; // a page hung synchronously answers nothing more: the later cases are skipped
  for (const c of CASES) {
    for (const mode of c.modes) {
      await t.test(`${mode}: ${c.what}`, { skip: hung ? `the page hung in "${hung}"` : false }, async () => {
        progress.label = `${mode}: ${c.what}`;
        const r = await watched(page, progress, runCase, { mode, src: c.run, callMs: CALL_MS }).catch((e) => {
          hung = progress.label;
          throw e;
        });
        assert.notEqual(r.outcome, 'hung', `did not settle within ${CALL_MS} ms`);
        if (r.outcome === 'error') {
          assert.ok(r.isError, `rejected with a non-Error (${r.name}: ${r.message})`);
          assert.match(r.message, /^localrank: /, `an Error must say it is localrank's (${r.name}: ${r.message})`);
          assert.doesNotMatch(r.message, /internal error|broken: create a new one/, 'no trap, no dead instance');
        } else c.check?.(r.value);
        assert.equal(r.sessionKept, true, 'the session must be as it was');
      });
    }
  }
});
