#!/usr/bin/env python3
"""Cuts GgmlOpsTest's fixture out of a llama.cpp dump (DUMP=DIR scripts/llamacpp-logits, layer 0):
a few rows of ggml's own inputs and outputs per op, little-endian float32/int32 files in OUT_DIR.
  scripts/ggml-ops-fixture.py DUMP_DIR OUT_DIR
"""
import sys, os
import numpy as np
dump, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
rows = []
for line in open(f"{dump}/index.tsv"):
    f = line.rstrip("\n").split("\t")
    rows.append(dict(file=f[0], name=f[1], op=f[2], type=f[3], ne=[int(x) for x in f[4:8]], nb=[int(x) for x in f[8:12]],
                     params=[int(x) for x in f[12:16]], src=f[16:19]))
def node(name, op):
    return next(r for r in rows if r["name"] == name and r["op"] == op)
def by_file(f):
    return next(r for r in rows if r["file"] == f)
def arr(r):
    raw = np.fromfile(f"{dump}/{r['file']}", dtype=np.uint8)
    dt = {"f32": "<f4", "i32": "<i4"}[r["type"]]
    item = np.dtype(dt).itemsize
    ne, nb = r["ne"], r["nb"]
    a = np.lib.stride_tricks.as_strided(raw.view(dt), shape=tuple(reversed(ne)), strides=tuple(reversed(nb)))
    a = np.ascontiguousarray(a)
    while a.ndim > 1 and a.shape[0] == 1:
        a = a[0]
    return a
def save(name, a):
    np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tofile(f"{out}/{name}")
toks = [1, 2, 3, 40, 77, 255]
mul = node("attn_norm-0", "MUL"); norm = by_file(mul["src"][0])
save("rms_eps.i32", np.array(norm["params"][:1], dtype="<i4"))
save("rms_x.f32", arr(by_file(norm["src"][0]))[toks]); save("rms_w.f32", arr(by_file(mul["src"][1]))); save("rms_y.f32", arr(mul)[toks])
rope = node("Qcur-0", "ROPE")
save("rope_pos.i32", arr(by_file(rope["src"][1]))[toks]); save("rope_x.f32", arr(by_file(rope["src"][0]))[toks]); save("rope_y.f32", arr(rope)[toks])
k = arr(node("Kcur-0", "ROPE")); q = arr(rope); v = arr(node("Vcur-0", "MUL_MAT"))
t = 40
save("attn_k.f32", k[:t + 1]); save("attn_v.f32", v[:t + 1]); save("attn_q.f32", q[t])
save("attn_kq.f32", arr(node("kq-0", "MUL_MAT"))[:, t, :t + 1])                 # [heads][t+1]
sm = node("kq_soft_max-0", "SOFT_MAX")
save("attn_scale.i32", np.array(sm["params"][:1], dtype="<i4"))
save("attn_kq_full.f32", arr(node("kq-0", "MUL_MAT"))[:, t, :]); save("attn_p.f32", arr(sm)[:, t, :])   # [heads][n_kv]
save("attn_kqv.f32", arr(node("kqv-0", "MUL_MAT"))[:, t, :])                    # [heads][head_dim]
lg = node("ffn_moe_logits-0", "MUL_MAT")
save("router_w.f32", arr(by_file(lg["src"][0]))); save("router_x.f32", arr(by_file(lg["src"][1]))[toks])
save("router_logits.f32", arr(lg)[toks]); save("router_probs.f32", arr(node("ffn_moe_probs-0", "SOFT_MAX"))[toks])
sw = node("ffn_moe_swiglu-0", "SWIGLU")
save("swiglu_g.f32", arr(by_file(sw["src"][0]))[toks]); save("swiglu_u.f32", arr(by_file(sw["src"][1]))[toks]); save("swiglu_y.f32", arr(sw)[toks])
print("wrote", out, sorted(os.listdir(out)))
