// Markdown tables of bench/results.json, as docs/speed-and-size.md quotes them.
//   node bench/table.mjs
import { readFileSync } from 'node:fs';

const r = JSON.parse(readFileSync(new URL('./results.json', import.meta.url)));
const kib = (b) => (b == null ? '–' : `${(b / 1024).toFixed(0)}`);
const mib = (b) => (b / 2 ** 20).toFixed(1);
const name = (row) => ({
  pkg: 'localrank `pkg/` (default: CPU only, SIMD)',
  'pkg/webgpu': 'localrank `pkg/webgpu/` (opt-in: CPU + WebGPU)',
}[row.build.split(':')[0]] ?? `onnxruntime-web 1.30.0`);
console.log(`| runtime | backend | candidates | session | p50 ms | p95 ms | cold ms | runtime gz KiB | model gz KiB | p50 / FLOP limit |`);
console.log(`|---|---|---:|---:|---:|---:|---:|---:|---:|---:|`);
for (const x of r.rows) {
  console.log(`| ${name(x)} | ${x.backend}${x.threads ? `, ${x.threads} thread${x.threads > 1 ? 's' : ''}` : ''} | ${x.candidates} | ${x.session} | ${x.p50_ms} | ${x.p95_ms} | ${x.cold_ms} | ${kib(x.runtime_bytes_gz)} | ${kib(x.model_bytes_gz)} | ${x.x_limit}× |`);
}
console.log(`\n| runtime | files fetched (runtime) | cold: runtime ready / model ready / first result ms (median) | wasm memory MiB before → after | JS heap MiB before → after | reranks | browser parity |`);
console.log(`|---|---|---:|---:|---:|---:|---:|`);
for (const x of r.runtimes.filter((y) => y.memory)) {
  const m = x.memory;
  console.log(`| ${x.id} | ${x.runtime_files.map((f) => f.split('/').pop()).join(', ')} | ${x.cold_stages_ms.runtime_ready} / ${x.cold_stages_ms.model_ready} / ${x.cold_stages_ms.first_result} (runs: ${x.cold_runs_ms.join(', ')}) | ${mib(m.wasm_bytes_before)} → ${mib(m.wasm_bytes_after)} | ${mib(m.js_heap_bytes_before)} → ${mib(m.js_heap_bytes_after)} | ${m.runs} | ${x.browser_parity_max_abs_diff.toExponential(1)} |`);
}
console.log(`\n${r.machine}; ${r.date}; \`${r.command}\`; load average at the end ${r.load_average_at_end.join(' ')}`);
console.log(`FLOPs per rerank (candidates x events): ${Object.entries(r.flops_per_rerank_by_case).map(([k, v]) => `${k} ${v}`).join(', ')}; wasm SIMD ${r.wasm_simd_gflops} GFLOP/s; parity ${r.parity_max_abs_diff}`);
console.log(JSON.stringify(r.targets, null, 1));

// Phase 4: navigation to the first reranked list under network emulation (docs/size.md).
const net = r.runtimes.filter((x) => x.network);
if (net.length > 0) {
  const ids = [...new Set(net.map((x) => x.id))];
  const cell = (id, network, visit) => {
    const x = net.find((y) => y.id === id && y.network === network && y.visit === visit);
    if (!x) return '–';
    const s = x.cold_stages_ms;
    return `${x.cold_ms.toLocaleString('en-US')}${s ? ` (${s.runtime_ready} / ${s.model_ready} / ${s.first_result})` : ''}`;
  };
  const nc = r.network_cold_start ?? {};
  console.log(`\nNetwork cold start, ms (runtime ready / model ready / first result), ${nc.date ?? r.date}, \`${nc.command ?? r.command}\`:`);
  console.log('| runtime (model) | Slow 4G first | Slow 4G second | Fast 4G first | Fast 4G second |');
  console.log('|---|---:|---:|---:|---:|');
  for (const id of ids) {
    const model = net.find((y) => y.id === id).model;
    console.log(`| ${id} (${model}) | ${cell(id, 'slow-4g', 'first')} | ${cell(id, 'slow-4g', 'second')} | ${cell(id, 'fast-4g', 'first')} | ${cell(id, 'fast-4g', 'second')} |`);
  }
}

// Phase 5: WebGPU against the CPU by work size (docs/speed-and-size.md).
const cross = r.webgpu_crossover;
if (cross) {
  const p50 = (id, c) => cross.rows.find((y) => y.id === id && y.candidates === c.candidates && y.session === c.session && y.explain === c.explain)?.p50_ms;
  const fmt = (v) => (v == null ? '–' : v.toLocaleString('en-US'));
  console.log(`\nWebGPU crossover, p50 ms, ${cross.date}, ${cross.runs} runs, load average at the end ${cross.load_average_at_end?.join(' ')}:`);
  console.log('| candidates | events | explain | `pkg/` CPU | `pkg/webgpu/` CPU | `pkg/webgpu/` WebGPU | WebGPU / `pkg/` CPU |');
  console.log('|---:|---:|---|---:|---:|---:|---:|');
  for (const c of cross.rows.filter((y) => y.id === 'localrank-cpu')) {
    const [cpu, wcpu, gpu] = ['localrank-cpu', 'localrank-webgpu-cpu', 'localrank-webgpu'].map((id) => p50(id, c));
    console.log(`| ${fmt(c.candidates)} | ${c.session} | ${c.explain ? 'yes' : 'no'} | ${fmt(cpu)} | ${fmt(wcpu)} | ${fmt(gpu)} | ${cpu && gpu ? `${Math.round(gpu / cpu)}x` : '–'} |`);
  }
  console.log(`WebGPU faster at: ${JSON.stringify(cross.webgpu_faster_at)}; adapter ${JSON.stringify(cross.adapter)}`);
}
