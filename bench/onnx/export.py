#!/usr/bin/env python3
"""Export the shipped localrank student to ONNX, check parity, and encode the benchmark inputs.

Reads only models/manifest.json (ModelConfig, category vocabulary), models/localrank.q8 (LRQ8
weights) and the vocabulary the manifest lists (as tokenizer.json: `tokenizers` reads that only;
the compact vocabulary file is expanded first, the same tokens and ids); nothing about the
architecture's sizes is hard-coded.

* Weights: LRQ8 is decoded exactly as src/quant.rs does (int8 or 4-bit values * per-block f32
  scale, blocks of 32 or 64 consecutive values; a row-coded token table as exact rows plus
  product-quantised rows, codes into per-piece codebooks) and assigned to the parameters in burn's Module visiting order (field
  declaration order of `Model` and `Block` in src/model.rs; Embedding: weight; Linear: weight
  [d_in, d_out], bias; LayerNorm: gamma, beta).
* Graph: the same computation as `Model::score` (src/model.rs), op for op: item = mean of the
  non-padding token embeddings + category embedding; session = item + position + event + dwell
  embeddings, causal pre-norm attention blocks (mask: future and padding keys, a position always
  sees itself; masked logits set to -1e9), then LayerNorm(h + context) with context = pooled
  query tokens + the six context-field embeddings; score = user(last position) . item.
* `--weights int8` (default) stores the int8 values and scales as initialisers with
  Cast/Mul/Reshape(/Slice) dequantisation in the graph, and a row-coded table as its exact rows,
  uint8 codes, codebooks and row order with Gather/Concat (onnxruntime folds those constants when
  the session is created), so the ONNX file ships the weights localrank.q8 ships (4-bit values
  as int8: this opset has no 4-bit type);
  `--weights f32` stores the dequantised floats.
* Inputs are the integer tensors src/features.rs builds (`Batch`, `Candidates`), int64:
  tokens [b, l, t], event [b, l], category [b, l], dwell [b, l], context [b, l, 6], query [b, l, t],
  cand_tokens [n, t], cand_category [n]. Output: scores [b, n].
* Parity: onnxruntime (Python) on the encoded golden session of models/golden.json against the
  scores the Rust ranker wrote there; exits non-zero above 1e-4.
* Bench inputs (`--bench-inputs FILE`): the sessions and candidate lists bench/run.mjs ranks with
  localrank, encoded here with the same tokenizer rules as src/text.rs / src/features.rs, plus
  the scores onnxruntime gives them (the browser run compares onnxruntime-web against these).
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BLOCK = 32
BLOCK4 = 64
# src/model.rs: CONTEXT_SIZES (0 = sized from the category vocabulary), EVENT_KINDS, DWELL_BUCKETS.
CONTEXT_SIZES = [25, 8, 4, 7, 0, 3]
EVENT_KINDS = 6
DWELL_BUCKETS = 5
EVENT_NAMES = ["view_item", "select_item", "add_to_cart", "purchase", "search"]
DEVICES = ["desktop", "mobile", "tablet"]
PAGE_TYPES = ["home", "search", "category", "product", "cart", "checkout"]
TOLERANCE = 1e-4


# ---------------------------------------------------------------- LRQ8 (src/quant.rs)
def read_lrq8(path):
    """The tensors of an LRQ8 file of version 2 or 3, each a dict: shape and bits, then scales and
    values (bits 8 or 4) or, for a row-coded table (bits 1), its exact rows, codes and codebooks."""
    data = open(path, "rb").read()
    at = 0

    def take(n):
        nonlocal at
        if at + n > len(data):
            raise SystemExit(f"{path}: truncated")
        out = data[at:at + n]
        at += n
        return out

    def u32():
        return struct.unpack("<I", take(4))[0]

    def plain(n, bits):
        block = BLOCK if bits == 8 else BLOCK4
        scales = np.frombuffer(take(math.ceil(n / block) * 4), dtype="<f4").astype(np.float32)
        if bits == 8:
            return scales, np.frombuffer(take(n), dtype=np.int8).copy()
        packed = np.frombuffer(take((n + 1) // 2), dtype=np.uint8)
        nibbles = np.stack([packed & 15, packed >> 4], axis=1).reshape(-1)[:n]
        return scales, (nibbles.astype(np.int16) - 8).astype(np.int8)

    if take(4) != b"LRQ8":
        raise SystemExit(f"{path}: not an LRQ8 file")
    if (v := u32()) not in (2, 3):
        raise SystemExit(f"{path}: LRQ8 version {v}")
    take(32)  # sha256 of the config and categories it was exported with (src/quant.rs)
    tensors = []
    for _ in range(u32()):
        shape = [u32() for _ in range(u32())]
        n = int(np.prod(shape))
        bits = take(1)[0] if v == 3 else 8
        if bits in (8, 4):
            scales, values = plain(n, bits)
            tensors.append({"shape": shape, "bits": bits, "scales": scales, "values": values})
            continue
        if bits != 1:
            raise SystemExit(f"{path}: {bits} bits per value")
        rows, width = shape
        k, parts = u32(), u32()
        bitmap = np.frombuffer(take((rows + 7) // 8), dtype=np.uint8)
        exact = np.unpackbits(bitmap, bitorder="little")[:rows].astype(bool)
        kept = int(exact.sum())
        rows_scales, rows_values = plain(kept * width, 4) if kept else (np.zeros(0, np.float32), np.zeros(0, np.int8))
        codes = np.frombuffer(take((rows - kept) * parts), dtype=np.uint8).reshape(rows - kept, parts)
        book_scales, book_values = plain(k * width, 8)
        tensors.append({"shape": shape, "bits": 1, "exact": exact, "rows": (rows_scales, rows_values), "k": k, "parts": parts,
                        "codes": codes, "book": (book_scales, book_values)})
    if at != len(data):
        raise SystemExit(f"{path}: trailing bytes")
    return tensors


def dequantize_blocks(n, scales, values, block):
    """As QTensor::dequantize: block i of `block` values times scales[i], in f32."""
    padded = np.zeros(len(scales) * block, dtype=np.float32)
    padded[:n] = values.astype(np.float32)
    return (padded.reshape(-1, block) * scales[:, None]).reshape(-1)[:n]


def dequantize(t):
    """A tensor's values as f32 in its shape (a row-coded table as Coded::dequantize builds it)."""
    if t["bits"] != 1:
        n = int(np.prod(t["shape"]))
        return dequantize_blocks(n, t["scales"], t["values"], BLOCK if t["bits"] == 8 else BLOCK4).reshape(t["shape"])
    rows, width = t["shape"]
    k, parts = t["k"], t["parts"]
    piece = width // parts
    kept = int(t["exact"].sum())
    exact_rows = dequantize_blocks(kept * width, *t["rows"], BLOCK4).reshape(kept, width)
    book = dequantize_blocks(k * width, *t["book"], BLOCK).reshape(parts, k, piece)
    coded = np.concatenate([book[j][t["codes"][:, j]] for j in range(parts)], axis=1) if len(t["codes"]) else np.zeros((0, width), np.float32)
    out = np.zeros((rows, width), dtype=np.float32)
    out[t["exact"]] = exact_rows
    out[~t["exact"]] = coded
    return out


def param_names(config):
    """Parameters of `Model` in burn's visiting order, with their expected shapes."""
    d, cats = config["d_model"], config["categories"]
    names = [("tokens", [config["text_buckets"], d]), ("category", [cats, d]),
             ("position", [config["max_session"], d]), ("event", [EVENT_KINDS, d]),
             ("dwell", [DWELL_BUCKETS, d])]
    names += [(f"context{i}", [cats if n == 0 else n, d]) for i, n in enumerate(CONTEXT_SIZES)]
    for b in range(config["layers"]):
        p = f"block{b}."
        names += [(p + "norm1.gamma", [d]), (p + "norm1.beta", [d]),
                  (p + "qkv.weight", [d, 3 * d]), (p + "qkv.bias", [3 * d]),
                  (p + "out.weight", [d, d]), (p + "out.bias", [d]),
                  (p + "norm2.gamma", [d]), (p + "norm2.beta", [d]),
                  (p + "ff1.weight", [d, 2 * d]), (p + "ff1.bias", [2 * d]),
                  (p + "ff2.weight", [2 * d, d]), (p + "ff2.bias", [d])]
    names += [("norm.gamma", [d]), ("norm.beta", [d])]
    return names


def load_weights(config, path):
    tensors = read_lrq8(path)
    names = param_names(config)
    if len(tensors) != len(names):
        raise SystemExit(f"{path}: {len(tensors)} tensors, the architecture has {len(names)}")
    out = {}
    for (name, shape), t in zip(names, tensors):
        if t["shape"] != shape:
            raise SystemExit(f"{path}: {name} has shape {t['shape']}, expected {shape}")
        out[name] = t
    return out


# ---------------------------------------------------------------- graph (src/model.rs)
class G:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, hint):
        self.n += 1
        return f"{hint}_{self.n}"

    def const(self, array, hint="c"):
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, hint=None, **attrs):
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out


def weight(g, name, t, mode):
    """A parameter as the graph reads it: f32 constants (`f32`), or (`int8`) the file's own
    encoding dequantised in the graph, so that the ONNX file ships what localrank.q8 ships."""
    if mode == "f32":
        return g.const(dequantize(t), name)
    if t["bits"] == 1:
        return coded_weight(g, name, t)
    return blocks(g, name, t["shape"], t["scales"], t["values"], BLOCK if t["bits"] == 8 else BLOCK4)


def blocks(g, name, shape, scales, values, block):
    """int8 values (4-bit ones too: ONNX of this opset has no 4-bit type) times per-block scales."""
    n, nb = values.size, len(scales)
    padded = np.zeros(nb * block, dtype=np.int8)
    padded[:n] = values
    q = g.const(padded.reshape(nb, block), name + ".q")
    s = g.const(scales.reshape(nb, 1), name + ".scale")
    deq = g.op("Mul", [g.op("Cast", [q], to=TensorProto.FLOAT), s])
    flat = g.op("Reshape", [deq, g.const(np.array([-1], dtype=np.int64))])
    if nb * block != n:
        flat = g.op("Slice", [flat, g.const(np.array([0], dtype=np.int64)), g.const(np.array([n], dtype=np.int64))])
    return g.op("Reshape", [flat, g.const(np.array(shape, dtype=np.int64))], hint=name)


def coded_weight(g, name, t):
    """A row-coded table (Coded in src/quant.rs) in graph ops: the exact rows, then each coded row
    as its pieces gathered from their codebooks, then one Gather that puts every row in place
    (uint8 codes and a uint16 row order, cast in the graph)."""
    rows, width = t["shape"]
    k, parts = t["k"], t["parts"]
    piece, kept = width // parts, int(t["exact"].sum())
    exact = blocks(g, name + ".exact", [kept, width], *t["rows"], BLOCK4)
    book = blocks(g, name + ".book", [parts * k, piece], *t["book"], BLOCK)
    codes = g.op("Cast", [g.const(t["codes"], name + ".codes")], to=TensorProto.INT64)
    # Piece j's codes index rows j * k.. of the stacked codebooks.
    codes = g.op("Add", [codes, g.const((np.arange(parts) * k).astype(np.int64).reshape(1, parts))])
    coded = g.op("Gather", [book, codes], axis=0)  # [coded rows, parts, piece]
    coded = g.op("Reshape", [coded, g.const(np.array([-1, width], dtype=np.int64))])
    stacked = g.op("Concat", [exact, coded], axis=0)
    # Row r of the table is stacked row where[r]: exact rows first, in order, then coded ones.
    where = np.empty(rows, dtype=np.int64)
    where[t["exact"]] = np.arange(kept)
    where[~t["exact"]] = kept + np.arange(rows - kept)
    dtype = np.uint16 if rows <= 1 << 16 else np.int32
    order = g.op("Cast", [g.const(where.astype(dtype), name + ".order")], to=TensorProto.INT64)
    return g.op("Gather", [stacked, order], axis=0, hint=name)


def build(config, weights, mode):
    g = G()
    d, h, l, t = config["d_model"], config["heads"], config["max_session"], config["max_tokens"]
    dh = d // h
    W = {k: weight(g, k, v, mode) for k, v in weights.items()}
    i64 = lambda *v: g.const(np.array(v, dtype=np.int64))
    f32 = lambda v: g.const(np.array(v, dtype=np.float32))

    def pool(tokens, batch_axes):
        """Mean of the non-padding token embeddings over the last axis of `tokens`."""
        mask = g.op("Cast", [g.op("Not", [g.op("Equal", [tokens, i64(0)])])], to=TensorProto.FLOAT)
        mask = g.op("Unsqueeze", [mask, i64(-1)])
        emb = g.op("Gather", [W["tokens"], tokens])
        axis = i64(batch_axes)
        s = g.op("ReduceSum", [g.op("Mul", [emb, mask]), axis], keepdims=0)
        count = g.op("Max", [g.op("ReduceSum", [mask, axis], keepdims=0), f32(1.0)])
        return g.op("Div", [s, count])

    def linear(x, p):
        return g.op("Add", [g.op("MatMul", [x, W[p + ".weight"]]), W[p + ".bias"]])

    def norm(x, p):
        return g.op("LayerNormalization", [x, W[p + ".gamma"], W[p + ".beta"]], axis=-1, epsilon=1e-5)

    inputs = [("tokens", ["b", l, t]), ("event", ["b", l]), ("category", ["b", l]), ("dwell", ["b", l]),
              ("context", ["b", l, len(CONTEXT_SIZES)]), ("query", ["b", l, t]),
              ("cand_tokens", ["n", t]), ("cand_category", ["n"])]
    # encode: items + position + event + dwell (position rows 0..l-1 = the whole table)
    x = g.op("Add", [pool("tokens", 2), g.op("Gather", [W["category"], "category"])])
    x = g.op("Add", [x, W["position"]])
    x = g.op("Add", [x, g.op("Gather", [W["event"], "event"])])
    x = g.op("Add", [x, g.op("Gather", [W["dwell"], "dwell"])])
    # attention_mask: (future | padding key) & !own, [b, 1, l, l]
    pos = np.arange(l)
    future = g.const(pos[None, :] > pos[:, None], "future")
    not_own = g.const(pos[None, :] != pos[:, None], "not_own")
    pad = g.op("Unsqueeze", [g.op("Equal", ["event", i64(0)]), i64(1, 2)])  # [b, 1, 1, l]
    mask = g.op("And", [g.op("Or", [future, pad]), not_own], hint="mask")
    neg = f32(-1e9)
    scale = f32(math.sqrt(dh))
    for b in range(config["layers"]):
        p = f"block{b}."
        qkv = linear(norm(x, p + "norm1"), p + "qkv")
        heads = []
        for i in range(3):
            part = g.op("Slice", [qkv, i64(i * d), i64((i + 1) * d), i64(2)])
            part = g.op("Reshape", [part, i64(0, l, h, dh)])
            heads.append(g.op("Transpose", [part], perm=[0, 2, 1, 3]))
        q, k, v = heads
        att = g.op("Div", [g.op("MatMul", [q, g.op("Transpose", [k], perm=[0, 1, 3, 2])]), scale])
        att = g.op("Softmax", [g.op("Where", [mask, neg, att])], axis=-1)
        y = g.op("Transpose", [g.op("MatMul", [att, v])], perm=[0, 2, 1, 3])
        y = g.op("Reshape", [y, i64(0, l, d)])
        x = g.op("Add", [x, linear(y, p + "out")])
        f = linear(norm(x, p + "norm2"), p + "ff1")
        f = g.op("Mul", [g.op("Mul", [f, f32(0.5)]),
                         g.op("Add", [g.op("Erf", [g.op("Div", [f, f32(math.sqrt(2.0))])]), f32(1.0)])])
        x = g.op("Add", [x, linear(f, p + "ff2")])
    # users = norm(h + context), context = pooled query + field embeddings
    ctx = pool("query", 2)
    for i in range(len(CONTEXT_SIZES)):
        field = g.op("Gather", ["context", g.const(np.array(i, dtype=np.int64))], axis=2)  # [b, l]
        ctx = g.op("Add", [ctx, g.op("Gather", [W[f"context{i}"], field])])
    users = norm(g.op("Add", [x, ctx]), "norm")
    user = g.op("Gather", [users, g.const(np.array(l - 1, dtype=np.int64))], axis=1)  # [b, d]
    items = g.op("Add", [pool("cand_tokens", 1), g.op("Gather", [W["category"], "cand_category"])])
    g.nodes.append(helper.make_node("Gemm", [user, items], ["scores"], transB=1))
    graph = helper.make_graph(
        g.nodes, "localrank",
        [helper.make_tensor_value_info(n, TensorProto.INT64, s) for n, s in inputs],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["b", "n"])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="localrank bench/onnx/export.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


# ---------------------------------------------------------------- encoding (src/text.rs, src/features.rs)
VOCAB_MAGIC = "localrank-vocab 1\n"


def tokenizer_json(path):
    """tokenizer.json's text: the file itself, or a compact vocabulary file expanded (as
    wordpiece::tokenizer_json: the header with model.vocab put back from the front-coded lines)."""
    text = open(path, encoding="utf-8").read()
    if not text.startswith(VOCAB_MAGIC):
        return text
    header, *lines = text[len(VOCAB_MAGIC):].rstrip("\n").split("\n")
    doc, vocab, prev = json.loads(header), {}, ""
    for i, line in enumerate(lines):
        shared, rest = line.split("\t", 1)
        prev = prev[:int(shared)] + rest
        vocab[prev] = i
    doc["model"]["vocab"] = vocab
    return json.dumps(doc)


class Encoder:
    def __init__(self, manifest):
        from tokenizers import Tokenizer
        self.tok = Tokenizer.from_str(tokenizer_json(os.path.join(REPO, "models", manifest["files"]["tokenizer"]["path"])))
        self.config = manifest["config"]
        self.cats = manifest["categories"]
        # What training fed the model (features::TrainedInputs): anything else reads as unknown,
        # and an event kind training never had as its most frequent one.
        self.trained = manifest["inputs"]

    def text(self, s):
        buckets, t = self.config["text_buckets"], self.config["max_tokens"]
        ids = [i for i in self.tok.encode(s, add_special_tokens=False).ids if i != 0][:t]
        ids = [1 + i % (buckets - 1) for i in ids]
        return ids + [0] * (t - len(ids))

    def category(self, c):
        segs = [x.strip() for x in c.replace(">", "/").replace("|", "/").replace(",", "/").split("/")]
        head = next((x for x in segs if x), "")
        for i, v in enumerate(self.cats):
            if v.lower() == head.lower():
                return i + 1
        return 0

    @staticmethod
    def dwell(ms):
        if ms is None:
            return 0
        return 1 if ms < 5000 else 2 if ms < 30000 else 3 if ms < 120000 else 4

    def context(self, ctx):
        def voc(v, x):
            x = (x or "").lower()
            return next((i + 1 for i, a in enumerate(v) if a == x), 0)
        prom = ctx.get("promotion")
        return [0 if ctx.get("hour") is None else ctx["hour"] % 24 + 1,
                0 if ctx.get("weekday") is None else ctx["weekday"] % 7 + 1,
                voc(DEVICES, ctx.get("device")), voc(PAGE_TYPES, ctx.get("page_type")),
                0 if ctx.get("category") is None else self.category(ctx["category"]),
                0 if prom is None else (2 if prom else 1)]

    def session(self, events, ctx):
        """One `EncodedSession` as a batch of one: left-padded to max_session."""
        l, t = self.config["max_session"], self.config["max_tokens"]
        kept = events[-l:]
        pad = l - len(kept)
        def text(e):
            if e["kind"] == "search" and e.get("query") is not None:
                return e["query"]
            return f'{e["title"]} {e["category"]}'
        tokens = [[0] * t] * pad + [self.text(text(e)) for e in kept]
        tr = self.trained
        kind = lambda k: k if k in tr["event"] else tr["event"][0]
        event = [0] * pad + [kind(EVENT_NAMES.index(e["kind"]) + 1) for e in kept]
        category = [0] * pad + [self.category(e["category"]) for e in kept]
        dwell = [0] * pad + [(lambda b: b if b in tr["dwell"] else 0)(self.dwell(e.get("dwell_ms"))) for e in kept]
        context = [v if v in tr["context"][f] else 0 for f, v in enumerate(self.context(ctx))]
        query = self.text(ctx["query"]) if ctx.get("query") is not None and tr["query"] else [0] * t
        return {"tokens": [tokens], "event": [event], "category": [category], "dwell": [dwell],
                "context": [[context] * l], "query": [[query] * l]}

    def candidates(self, items):
        return {"cand_tokens": [self.text(f'{c["title"]} {c["category"]}') for c in items],
                "cand_category": [self.category(c["category"]) for c in items]}


def run_ort(path, feeds):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    return sess.run(["scores"], {k: np.asarray(v, dtype=np.int64) for k, v in feeds.items()})[0]


# Bench workload, shared with bench/run.mjs: candidates = the first N catalogue items, session =
# N select_item events on catalogue items 600.., no dwell; this context.
BENCH_CONTEXT = {"hour": 12, "weekday": 3, "device": "desktop", "page_type": "home", "promotion": False}
BENCH_SIZES = [(100, 5), (100, 50), (500, 5), (500, 50)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "bench", "onnx", "localrank.onnx"))
    ap.add_argument("--weights", choices=["int8", "f32"], default="int8")
    ap.add_argument("--bench-inputs", help="write the encoded bench workload (JSON) here")
    args = ap.parse_args()
    manifest = json.load(open(os.path.join(REPO, "models", "manifest.json")))
    if manifest.get("weights_format") != "lrq8":
        raise SystemExit(f"weights_format {manifest.get('weights_format')!r}: this exporter reads lrq8")
    config = manifest["config"]
    weights = load_weights(config, os.path.join(REPO, "models", manifest["files"]["weights"]["path"]))
    model = build(config, weights, args.weights)
    onnx.save(model, args.out)
    print(f"wrote {args.out}: {os.path.getsize(args.out)} bytes ({args.weights} weights, "
          f"{sum(np.prod(s) for _, s in param_names(config))} parameters, config {config})")

    enc = Encoder(manifest)
    golden = json.load(open(os.path.join(REPO, "models", manifest["files"]["golden"]["path"])))
    feeds = enc.session(golden["session"], golden["context"]) | enc.candidates(golden["candidates"])
    scores = run_ort(args.out, feeds)[0]
    diff = float(np.max(np.abs(scores - np.asarray(golden["scores"], dtype=np.float32))))
    ok = diff <= TOLERANCE
    print(f"parity: onnxruntime {__import__('onnxruntime').__version__} vs models/golden.json "
          f"({len(golden['scores'])} candidates): max abs diff {diff:.3g} ({'ok' if ok else 'FAIL'}, tolerance {TOLERANCE})")

    if args.bench_inputs:
        catalog = json.load(open(os.path.join(REPO, "www", "data", "catalog.json")))["items"]
        cases = []
        for n, s in BENCH_SIZES:
            events = [{"kind": "select_item", "title": it["title"], "category": it["category"]}
                      for it in catalog[600:600 + s]]
            f = enc.session(events, BENCH_CONTEXT) | enc.candidates(catalog[:n])
            cases.append({"candidates": n, "session": s, "feeds": f, "scores": run_ort(args.out, f)[0].tolist()})
        json.dump({"context": BENCH_CONTEXT, "max_session": config["max_session"],
                   "max_tokens": config["max_tokens"], "parity_max_abs_diff": diff,
                   "golden_feeds": feeds, "golden_scores": golden["scores"], "cases": cases},
                  open(args.bench_inputs, "w"))
        print(f"wrote {args.bench_inputs}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
