package capmoe.model;

import capmoe.weights.Checkpoint;
import capmoe.weights.DType;
import capmoe.weights.GgufFile;
import capmoe.weights.GgufWriter;
import capmoe.weights.GgufWriter.F32;
import capmoe.weights.GgufWriter.U32;
import capmoe.weights.Quantizer;
import capmoe.weights.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes an HF fixture as llama.cpp's converter would (its names, stacked experts, metadata keys,
 * Mixtral's q/k row permutation), written here independently of capmoe's reader from llama.cpp's
 * {@code conversion/olmo.py}, {@code conversion/qwen.py}, {@code conversion/llama.py} and gguf-py's
 * {@code constants.py}. Norms stay F32, as the converter keeps them; matrices go to {@code weights}
 * (Q8_0/Q4_0 only where {@link Checkpoint#quantizes} allows, else BF16 — the converter would use F16 there).
 */
final class GgufFixtures {
    private GgufFixtures() { }

    static Path write(Path hfDir, DType weights, Path out) throws IOException {
        ModelConfig c = ModelConfig.read(hfDir);
        if (c.deepseek() != null) return writeDeepseek(hfDir, c, weights, out);
        String arch = switch (c.modelType()) {
            case "olmoe" -> "olmoe";
            case "mixtral" -> "llama";
            case "qwen2_moe" -> "qwen2moe";
            case "qwen3_moe" -> "qwen3moe";
            default -> throw new IllegalArgumentException(c.modelType());
        };
        GgufWriter w = new GgufWriter();
        String p = arch + ".";
        w.kv("general.architecture", arch).kv("general.name", hfDir.getFileName().toString())
                .kv(p + "block_count", new U32(c.numHiddenLayers()))
                .kv(p + "context_length", new U32(c.maxPositionEmbeddings()))
                .kv(p + "embedding_length", new U32(c.hiddenSize()))
                .kv(p + "feed_forward_length", new U32(c.intermediateSize()))
                .kv(p + "attention.head_count", new U32(c.numAttentionHeads()))
                .kv(p + "attention.head_count_kv", new U32(c.numKeyValueHeads()))
                .kv(p + "rope.freq_base", new F32((float) c.rope().theta()))
                .kv(p + "attention.layer_norm_rms_epsilon", new F32((float) c.rmsNormEps()))
                .kv(p + "expert_count", new U32(c.numExperts()))
                .kv(p + "expert_used_count", new U32(c.topK()))
                .kv(p + "expert_weights_norm", c.normTopkProb());
        if (arch.startsWith("qwen")) w.kv(p + "expert_feed_forward_length", new U32(c.moeIntermediateSize()));
        if (arch.equals("qwen2moe")) w.kv(p + "expert_shared_feed_forward_length", new U32(c.sharedExpertIntermediateSize()));
        if (arch.equals("qwen3moe")) w.kv(p + "attention.key_length", new U32(c.headDim())).kv(p + "attention.value_length", new U32(c.headDim()));
        if (!c.eosTokenIds().isEmpty()) w.kv("tokenizer.ggml.eos_token_id", new U32(c.eosTokenIds().getFirst()));

        try (Checkpoint ck = Checkpoint.open(hfDir)) {
            Map<String, Tensor> t = ck.tensors();
            emit(w, "token_embd.weight", t.get("model.embed_tokens.weight"), weights);
            emit(w, "output_norm.weight", t.get("model.norm.weight"), DType.F32);
            if (t.containsKey("lm_head.weight")) emit(w, "output.weight", t.get("lm_head.weight"), weights);
            boolean mixtral = arch.equals("llama");
            String moe = mixtral ? "block_sparse_moe." : "mlp.";
            for (int l = 0; l < c.numHiddenLayers(); l++) {
                String hf = "model.layers." + l + ".", g = "blk." + l + ".";
                emit(w, g + "attn_norm.weight", t.get(hf + "input_layernorm.weight"), DType.F32);
                emit(w, g + "ffn_norm.weight", t.get(hf + "post_attention_layernorm.weight"), DType.F32);
                for (String[] m : new String[][] {{"q_proj", "attn_q"}, {"k_proj", "attn_k"}, {"v_proj", "attn_v"}, {"o_proj", "attn_output"}}) {
                    for (String kind : new String[] {"weight", "bias"}) {
                        Tensor x = t.get(hf + "self_attn." + m[0] + "." + kind);
                        if (x == null) continue;
                        float[] v = x.toFloatArray();
                        if (mixtral && m[0].equals("q_proj")) v = permute(v, x.shape(), c.numAttentionHeads());
                        if (mixtral && m[0].equals("k_proj")) v = permute(v, x.shape(), c.numKeyValueHeads());
                        emit(w, g + m[1] + "." + kind, x.name(), x.shape(), v, kind.equals("bias") ? DType.F32 : weights);
                    }
                }
                if (t.containsKey(hf + "self_attn.q_norm.weight")) {
                    emit(w, g + "attn_q_norm.weight", t.get(hf + "self_attn.q_norm.weight"), DType.F32);
                    emit(w, g + "attn_k_norm.weight", t.get(hf + "self_attn.k_norm.weight"), DType.F32);
                }
                // the router in BF16 (the converter forces F32; BF16 keeps the same kernel as the safetensors path)
                emit(w, g + "ffn_gate_inp.weight", t.get(hf + moe + "gate.weight"), DType.BF16);
                String[][] projs = mixtral ? new String[][] {{"w1", "ffn_gate_exps"}, {"w3", "ffn_up_exps"}, {"w2", "ffn_down_exps"}}
                        : new String[][] {{"gate_proj", "ffn_gate_exps"}, {"up_proj", "ffn_up_exps"}, {"down_proj", "ffn_down_exps"}};
                stackedExperts(w, t, c, hf + moe + "experts.", g, projs, weights);
                if (t.containsKey(hf + "mlp.shared_expert_gate.weight")) {
                    Tensor sg = t.get(hf + "mlp.shared_expert_gate.weight");
                    emit(w, g + "ffn_gate_inp_shexp.weight", sg.name(), new long[] {sg.elements()}, sg.toFloatArray(), DType.BF16);
                    emit(w, g + "ffn_gate_shexp.weight", t.get(hf + "mlp.shared_expert.gate_proj.weight"), weights);
                    emit(w, g + "ffn_up_shexp.weight", t.get(hf + "mlp.shared_expert.up_proj.weight"), weights);
                    emit(w, g + "ffn_down_shexp.weight", t.get(hf + "mlp.shared_expert.down_proj.weight"), weights);
                }
            }
        }
        w.write(out);
        return out;
    }

    /**
     * A DeepSeek-V2/V3 fixture as {@code conversion/deepseek.py} DeepseekV2Model writes it (arch {@code deepseek2}):
     * metadata from {@code set_gguf_parameters} (lines 319–386, with {@code conversion/base.py} lines 1268–1379 before
     * it: head_count_kv = 1, key/value_length = the latent sizes, the MHA sizes under {@code _mla}, yarn keys with
     * yarn_log_multiplier = 0.1 · mscale_all_dim), kv_b_proj split per head into attn_k_b (transposed) and attn_v_b
     * (lines 433–450), e_score_correction_bias as {@code exp_probs_b.bias} (base.py line 580). The gating function is
     * written as the hub's config.json makes the converter write it (scoring_func sigmoid for V3 → 2, base.py lines
     * 1364–1366); the transformers-5 fixture configs no longer carry scoring_func.
     */
    static Path writeDeepseek(Path hfDir, ModelConfig c, DType weights, Path out) throws IOException {
        DeepSeekConfig d = c.deepseek();
        boolean v3 = c.modelType().equals("deepseek_v3");
        GgufWriter w = new GgufWriter();
        String p = "deepseek2.";
        w.kv("general.architecture", "deepseek2").kv("general.name", hfDir.getFileName().toString())
                .kv(p + "block_count", new U32(c.numHiddenLayers()))
                .kv(p + "context_length", new U32(c.maxPositionEmbeddings()))
                .kv(p + "embedding_length", new U32(c.hiddenSize()))
                .kv(p + "feed_forward_length", new U32(c.intermediateSize()))
                .kv(p + "attention.head_count", new U32(c.numAttentionHeads()))
                .kv(p + "attention.head_count_kv", new U32(1))
                .kv(p + "rope.freq_base", new F32((float) c.rope().theta()))
                .kv(p + "attention.layer_norm_rms_epsilon", new F32((float) c.rmsNormEps()))
                .kv(p + "expert_count", new U32(c.numExperts()))
                .kv(p + "expert_used_count", new U32(c.topK()))
                .kv(p + "expert_group_count", new U32(d.nGroup()))
                .kv(p + "expert_group_used_count", new U32(d.topkGroup()))
                .kv(p + "expert_gating_func", new U32(v3 ? 2 : 1))
                .kv(p + "leading_dense_block_count", new U32(d.firstKDenseReplace()))
                .kv(p + "vocab_size", new U32(c.vocabSize()))
                .kv(p + "attention.kv_lora_rank", new U32(d.kvLoraRank()))
                .kv(p + "attention.key_length", new U32(d.kvLoraRank() + d.qkRopeHeadDim()))
                .kv(p + "attention.value_length", new U32(d.kvLoraRank()))
                .kv(p + "attention.key_length_mla", new U32(d.qkNopeHeadDim() + d.qkRopeHeadDim()))
                .kv(p + "attention.value_length_mla", new U32(d.vHeadDim()))
                .kv(p + "expert_feed_forward_length", new U32(c.moeIntermediateSize()))
                .kv(p + "expert_shared_count", new U32(d.nSharedExperts()))
                .kv(p + "expert_weights_scale", new F32((float) d.routedScalingFactor()))
                .kv(p + "rope.dimension_count", new U32(d.qkRopeHeadDim()));
        if (d.qLoraRank() > 0) w.kv(p + "attention.q_lora_rank", new U32(d.qLoraRank()));
        if (c.normTopkProb()) w.kv(p + "expert_weights_norm", true);
        if (c.rope().isYarn()) {
            w.kv(p + "rope.scaling.type", "yarn").kv(p + "rope.scaling.factor", new F32((float) c.rope().factor()))
                    .kv(p + "rope.scaling.original_context_length", new U32(c.rope().originalMaxPositionEmbeddings()))
                    .kv(p + "rope.scaling.yarn_beta_fast", new F32((float) c.rope().betaFast()))
                    .kv(p + "rope.scaling.yarn_beta_slow", new F32((float) c.rope().betaSlow()));
            if (c.rope().mscaleAllDim() != 0) w.kv(p + "rope.scaling.yarn_log_multiplier", new F32((float) (0.1 * c.rope().mscaleAllDim())));
        }
        if (!c.eosTokenIds().isEmpty()) w.kv("tokenizer.ggml.eos_token_id", new U32(c.eosTokenIds().getFirst()));

        try (Checkpoint ck = Checkpoint.open(hfDir)) {
            Map<String, Tensor> t = ck.tensors();
            emit(w, "token_embd.weight", t.get("model.embed_tokens.weight"), weights);
            emit(w, "output_norm.weight", t.get("model.norm.weight"), DType.F32);
            emit(w, "output.weight", t.get("lm_head.weight"), weights);
            int heads = c.numAttentionHeads(), lora = d.kvLoraRank(), nope = d.qkNopeHeadDim(), vDim = d.vHeadDim();
            for (int l = 0; l < c.numHiddenLayers(); l++) {
                String hf = "model.layers." + l + ".", a = hf + "self_attn.", g = "blk." + l + ".";
                emit(w, g + "attn_norm.weight", t.get(hf + "input_layernorm.weight"), DType.F32);
                emit(w, g + "ffn_norm.weight", t.get(hf + "post_attention_layernorm.weight"), DType.F32);
                if (d.qLoraRank() > 0) {
                    emit(w, g + "attn_q_a.weight", t.get(a + "q_a_proj.weight"), weights);
                    emit(w, g + "attn_q_a_norm.weight", t.get(a + "q_a_layernorm.weight"), DType.F32);
                    emit(w, g + "attn_q_b.weight", t.get(a + "q_b_proj.weight"), weights);
                } else {
                    emit(w, g + "attn_q.weight", t.get(a + "q_proj.weight"), weights);
                }
                emit(w, g + "attn_kv_a_mqa.weight", t.get(a + "kv_a_proj_with_mqa.weight"), weights);
                emit(w, g + "attn_kv_a_norm.weight", t.get(a + "kv_a_layernorm.weight"), DType.F32);
                // kv_b [heads * (nope + v), lora] → k_b [heads, lora, nope] (transposed) and v_b [heads, v, lora]
                Tensor kvB = t.get(a + "kv_b_proj.weight");
                float[] kv = kvB.toFloatArray(), kB = new float[heads * lora * nope], vB = new float[heads * vDim * lora];
                for (int h = 0; h < heads; h++) {
                    int row0 = h * (nope + vDim);
                    for (int i = 0; i < nope; i++) {
                        for (int col = 0; col < lora; col++) kB[(h * lora + col) * nope + i] = kv[(row0 + i) * lora + col];
                    }
                    System.arraycopy(kv, (row0 + nope) * lora, vB, h * vDim * lora, vDim * lora);
                }
                emit(w, g + "attn_k_b.weight", kvB.name(), new long[] {heads, lora, nope}, kB, weights);
                emit(w, g + "attn_v_b.weight", kvB.name(), new long[] {heads, vDim, lora}, vB, weights);
                emit(w, g + "attn_output.weight", t.get(a + "o_proj.weight"), weights);
                if (!d.isMoeLayer(l)) {
                    emit(w, g + "ffn_gate.weight", t.get(hf + "mlp.gate_proj.weight"), weights);
                    emit(w, g + "ffn_up.weight", t.get(hf + "mlp.up_proj.weight"), weights);
                    emit(w, g + "ffn_down.weight", t.get(hf + "mlp.down_proj.weight"), weights);
                    continue;
                }
                // the router in BF16, as in write()
                emit(w, g + "ffn_gate_inp.weight", t.get(hf + "mlp.gate.weight"), DType.BF16);
                if (t.containsKey(hf + "mlp.gate.e_score_correction_bias")) {
                    emit(w, g + "exp_probs_b.bias", t.get(hf + "mlp.gate.e_score_correction_bias"), DType.F32);
                }
                stackedExperts(w, t, c, hf + "mlp.experts.", g, new String[][] {{"gate_proj", "ffn_gate_exps"}, {"up_proj", "ffn_up_exps"},
                        {"down_proj", "ffn_down_exps"}}, weights);
                emit(w, g + "ffn_gate_shexp.weight", t.get(hf + "mlp.shared_experts.gate_proj.weight"), weights);
                emit(w, g + "ffn_up_shexp.weight", t.get(hf + "mlp.shared_experts.up_proj.weight"), weights);
                emit(w, g + "ffn_down_shexp.weight", t.get(hf + "mlp.shared_experts.down_proj.weight"), weights);
            }
        }
        w.write(out);
        return out;
    }

    /** The experts' {@code projs[i][0]} matrices stacked [E, rows, cols] as GGUF tensor {@code g + projs[i][1]}. */
    private static void stackedExperts(GgufWriter w, Map<String, Tensor> t, ModelConfig c, String prefix, String g, String[][] projs, DType weights) {
        for (String[] pr : projs) {
            List<float[]> parts = new ArrayList<>();
            long[] shape = null;
            for (int e = 0; e < c.numExperts(); e++) {
                Tensor x = t.get(prefix + e + "." + pr[0] + ".weight");
                parts.add(x.toFloatArray());
                shape = x.shape();
            }
            float[] all = new float[parts.size() * parts.getFirst().length];
            for (int e = 0; e < parts.size(); e++) System.arraycopy(parts.get(e), 0, all, e * parts.get(e).length, parts.get(e).length);
            emit(w, g + pr[1] + ".weight", prefix + "0." + pr[0] + ".weight", new long[] {c.numExperts(), shape[0], shape[1]}, all, weights);
        }
    }

    /** llama.cpp conversion/llama.py:176 permute(w, n_head): reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2). */
    static float[] permute(float[] v, long[] shape, int heads) {
        int rows = (int) shape[0], cols = shape.length > 1 ? (int) shape[1] : 1, half = rows / heads / 2;
        float[] out = new float[v.length];
        for (int h = 0; h < heads; h++) {
            for (int two = 0; two < 2; two++) {
                for (int i = 0; i < half; i++) {
                    int src = (h * 2 + two) * half + i;          // row index in [n_head, 2, half]
                    int dst = (h * half + i) * 2 + two;          // after swapaxes: [n_head, half, 2]
                    System.arraycopy(v, src * cols, out, dst * cols, cols);
                }
            }
        }
        return out;
    }

    private static void emit(GgufWriter w, String name, Tensor t, DType type) {
        if (t == null) throw new IllegalArgumentException("fixture lacks the tensor for " + name);
        emit(w, name, t.name(), t.shape(), t.toFloatArray(), type);
    }

    private static void emit(GgufWriter w, String name, String hfName, long[] shape, float[] v, DType type) {
        long cols = shape[shape.length - 1];
        if (type.quantized() && (shape.length == 1 || !Checkpoint.quantizes(hfName, (int) cols))) type = DType.BF16;
        byte[] data;
        if (type.quantized()) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment seg = arena.allocate(type.bytes(v.length));
                Quantizer.quantize(type, v, 0, v.length, seg, 0);
                data = seg.toArray(ValueLayout.JAVA_BYTE);
            }
        } else {
            ByteBuffer b = ByteBuffer.allocate(v.length * type.size()).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : v) {
                switch (type) {
                    case F32 -> b.putFloat(f);
                    case F16 -> b.putShort(Float.floatToFloat16(f));
                    case BF16 -> b.putShort(capmoe.kernels.Bf16.fromFloat(f));   // exact: the fixtures are bf16
                    default -> throw new IllegalArgumentException(type.toString());
                }
            }
            data = b.array();
        }
        w.tensor(name, GgufFile.ggmlType(type), shape, data);
    }
}
