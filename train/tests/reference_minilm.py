#!/usr/bin/env python3
"""Independent numpy reference for all-MiniLM-L6-v2 sentence embeddings (no torch).

Reads model.safetensors by parsing its header and raw bytes with numpy, tokenises with the HF
`tokenizers` package from the same tokenizer.json, runs BERT (post-LN, exact-erf GELU), mean-pools
over the attention mask and L2-normalises, as sentence-transformers does for this model.

usage: reference_minilm.py MODEL_DIR (--file TEXTS.txt | TEXT...)   -> JSON list of 384-d lists
"""
import json
import math
import struct
import sys

import numpy as np
from tokenizers import Tokenizer

EPS = 1e-12
HEADS = 12
MAX_LEN = 128


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dtypes = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        arr = np.frombuffer(data[start:end], dtype=dtypes[meta["dtype"]])
        out[name] = arr.reshape(meta["shape"]).astype(np.float64)
    return out


def layer_norm(x, w, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + EPS) * w + b


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def dense(x, W, p):
    # PyTorch Linear stores weight as [out, in].
    return x @ W[p + ".weight"].T + W[p + ".bias"]


def encode(W, ids, types):
    """One sequence (no padding), so no attention mask is needed here."""
    n = len(ids)
    x = (W["embeddings.word_embeddings.weight"][ids]
         + W["embeddings.position_embeddings.weight"][:n]
         + W["embeddings.token_type_embeddings.weight"][types])
    x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"])
    d = x.shape[1] // HEADS
    for i in range(6):
        p = f"encoder.layer.{i}."
        q, k, v = (dense(x, W, p + "attention.self." + m).reshape(n, HEADS, d).transpose(1, 0, 2)
                   for m in ("query", "key", "value"))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(n, HEADS * d)
        x = layer_norm(x + dense(ctx, W, p + "attention.output.dense"),
                       W[p + "attention.output.LayerNorm.weight"], W[p + "attention.output.LayerNorm.bias"])
        h = gelu(dense(x, W, p + "intermediate.dense"))
        x = layer_norm(x + dense(h, W, p + "output.dense"),
                       W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"])
    pooled = x.mean(0)
    return pooled / max(np.linalg.norm(pooled), 1e-12)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    model_dir, rest = argv[0], argv[1:]
    if rest[0] == "--file":
        with open(rest[1], encoding="utf-8") as f:
            texts = [line.rstrip("\n") for line in f if line.strip()]
    else:
        texts = rest
    tok = Tokenizer.from_file(model_dir + "/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(MAX_LEN)
    W = load_safetensors(model_dir + "/model.safetensors")
    out = []
    for t in texts:
        e = tok.encode(t)
        out.append([float(v) for v in encode(W, e.ids, e.type_ids)])
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
