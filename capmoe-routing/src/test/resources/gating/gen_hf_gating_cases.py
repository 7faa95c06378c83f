"""Generates hf_gating_cases.json: random router logits routed by a line-by-line numpy
transliteration of HF transformers 5 (MixtralTopKRouter / Qwen2MoeSparseMoeBlock softmax top-k,
DeepseekV2Moe.route_tokens_to_experts, DeepseekV3MoE.route_tokens_to_experts), in float32.
Run: python3 gen_hf_gating_cases.py > hf_gating_cases.json  (numpy only)."""
import json
import numpy as np

rng = np.random.default_rng(20260101)


def topk(x, k):
    # torch.topk on distinct values: the k largest, best first
    idx = np.argsort(-x, axis=-1, kind="stable")[..., :k]
    return np.take_along_axis(x, idx, -1), idx


def softmax(x):
    x = x.astype(np.float32)
    e = np.exp(x - x.max(-1, keepdims=True)).astype(np.float32)
    return (e / e.sum(-1, keepdims=True, dtype=np.float32)).astype(np.float32)


def softmax_topk(logits, k, norm):
    probs = softmax(logits)
    w, idx = topk(probs, k)
    if norm:
        w = w / w.sum(-1, keepdims=True, dtype=np.float32)
    return idx, w


def deepseek_v2(logits, k, n_group, topk_group, rsf, method):
    probs = softmax(logits)
    T, E = probs.shape
    if method == "greedy":
        w, idx = topk(probs, k)
    else:
        group_scores = probs.reshape(T, n_group, -1).max(-1)
        _, group_idx = topk(group_scores, topk_group)
        group_mask = np.zeros_like(group_scores)
        np.put_along_axis(group_mask, group_idx, 1, -1)
        score_mask = np.repeat(group_mask, E // n_group, axis=-1)
        tmp = np.where(score_mask.astype(bool), probs, np.float32(0.0))
        w, idx = topk(tmp, k)
    return idx, (w * np.float32(rsf)).astype(np.float32)


def deepseek_v3(logits, k, n_group, topk_group, rsf, norm, bias):
    s = (1 / (1 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
    choice = (s + bias).astype(np.float32)
    T, E = s.shape
    group_scores = topk(choice.reshape(T, n_group, -1), 2)[0].sum(-1, dtype=np.float32)
    _, group_idx = topk(group_scores, topk_group)
    group_mask = np.zeros_like(group_scores)
    np.put_along_axis(group_mask, group_idx, 1, -1)
    score_mask = np.repeat(group_mask, E // n_group, axis=-1)
    masked = np.where(score_mask.astype(bool), choice, np.float32(0.0))
    _, idx = topk(masked, k)
    assert (np.take_along_axis(masked, idx, -1) > 0).all(), "a masked zero was chosen: ambiguous ties"
    w = np.take_along_axis(s, idx, -1)
    if norm:
        w = w / (w.sum(-1, keepdims=True, dtype=np.float32) + np.float32(1e-20))
    return idx, (w * np.float32(rsf)).astype(np.float32)


cases = []
T = 6
for i in range(36):
    kind = ["softmax", "v2_greedy", "v2_group", "v3"][i % 4]
    E = [8, 16, 32][(i // 4) % 3]
    n_group = int(rng.choice([2, 4, 8] if E >= 16 else [2, 4])) if kind in ("v2_group", "v3") else 1
    topk_group = int(rng.integers(1, n_group)) if n_group > 1 else 1  # < n_group: some groups masked
    k = int(rng.integers(1, min(6, topk_group * E // n_group) + 1))
    logits = rng.normal(0, 2, size=(T, E)).astype(np.float32)
    norm = bool(i % 3 == 0)
    rsf = 1.0 if kind == "softmax" else float([1.0, 2.5, 16.0][i % 3])
    bias = rng.uniform(-0.1, 0.3, size=E).astype(np.float32) if kind == "v3" else None
    if kind == "softmax":
        idx, w = softmax_topk(logits, k, norm)
    elif kind == "v2_greedy":
        idx, w = deepseek_v2(logits, k, 1, 1, rsf, "greedy")
        norm = False  # HF DeepSeek-V2 ignores norm_topk_prob
    elif kind == "v2_group":
        idx, w = deepseek_v2(logits, k, n_group, topk_group, rsf, "group_limited_greedy")
        norm = False
    else:
        idx, w = deepseek_v3(logits, k, n_group, topk_group, rsf, norm, bias)
    order = np.argsort(idx, axis=-1)
    cases.append({
        "gating": kind, "experts": E, "top_k": k, "n_group": n_group, "topk_group": topk_group,
        "norm_topk_prob": norm, "routed_scaling_factor": rsf,
        "e_score_correction_bias": None if bias is None else [float(b) for b in bias],
        "logits": [[float(v) for v in row] for row in logits],
        "expected_experts": np.take_along_axis(idx, order, -1).tolist(),
        "expected_weights": [[float(v) for v in row] for row in np.take_along_axis(w, order, -1)],
    })
print(json.dumps({"source": "gen_hf_gating_cases.py (numpy transliteration of HF transformers 5 routers)", "cases": cases}))
