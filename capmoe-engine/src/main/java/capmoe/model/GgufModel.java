package capmoe.model;

import capmoe.weights.DType;
import capmoe.weights.GgufFile;
import capmoe.weights.Tensor;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A GGUF file as one of capmoe's architectures: its metadata becomes the HF config, its tensor
 * names become the HF names the architectures load, so the same code runs both. Supported GGUF
 * architectures and what they become:
 * <ul>
 *   <li>{@code olmoe} → olmoe; {@code qwen2moe} → qwen2_moe; {@code qwen3moe} → qwen3_moe;
 *   <li>{@code llama} with {@code llama.expert_count} → mixtral. llama.cpp's converter permutes the rows
 *       of q_proj/k_proj for its interleaved RoPE ({@code conversion/llama.py} lines 176–181:
 *       reshape(n_head, 2, rows/n_head/2, ...).swapaxes(1, 2)); {@link #unpermute} undoes it;
 *   <li>{@code deepseek2} → deepseek_v2 (softmax router) or deepseek_v3 (sigmoid router): keys in {@link #deepseek},
 *       yarn in {@link #yarn}, the converter's split and transposed kv_b_proj joined back in {@link #joinKvB}.
 * </ul>
 * Steps of {@link #config} and {@link #tensors}:
 * <ol>
 *   <li>read {@code general.architecture} and the {@code <arch>.*} hyperparameters (gguf-py
 *       {@code constants.py} Keys) into a config.json-shaped object and parse it with the same
 *       {@link ConfigReader} as config.json, so the same checks apply;
 *   <li>top-k renormalisation is what llama.cpp's graph does for the architecture (olmoe, qwen2moe: no —
 *       {@code src/models/olmoe.cpp} line 144, {@code qwen2moe.cpp} line 139; qwen3moe, llama: yes), unless
 *       the file carries {@code <arch>.expert_weights_norm};
 *   <li>RoPE frequencies in fp32 (config dtype float32), as llama.cpp computes them;
 *   <li>rename every tensor ({@code blk.N.attn_q.weight} → {@code model.layers.N.self_attn.q_proj.weight}, ...);
 *       stacked experts {@code blk.N.ffn_{gate,up,down}_exps} [E, rows, cols] become E views, one per
 *       expert; an unknown tensor name is an error (nothing is silently dropped).
 * </ol>
 */
public final class GgufModel {
    private GgufModel() { }

    /** GGUF architecture → HF model_type ({@code deepseek2} → deepseek_v2 or deepseek_v3, by its gating function). */
    private static final Map<String, String> MODEL_TYPES = Map.of(
            "olmoe", "olmoe", "qwen2moe", "qwen2_moe", "qwen3moe", "qwen3_moe", "llama", "mixtral", "deepseek2", "deepseek_v2");

    /** The GGUF architecture, checked to be one capmoe runs. */
    static String architecture(GgufFile f) {
        String arch = f.string("general.architecture");
        if (!MODEL_TYPES.containsKey(arch)) {
            throw new IllegalArgumentException(f.path() + ": GGUF architecture " + arch
                    + " is not supported (capmoe reads olmoe, qwen2moe, qwen3moe, deepseek2, and llama with experts = Mixtral)");
        }
        if (arch.equals("llama") && f.integer("llama.expert_count", 0) == 0) {
            throw new IllegalArgumentException(f.path() + ": GGUF architecture llama without llama.expert_count is a dense model; capmoe runs MoE models");
        }
        return arch;
    }

    /** The HF config of the model in {@code f} (step 1–3). */
    public static ModelConfig config(GgufFile f) {
        String arch = architecture(f);
        String type = MODEL_TYPES.get(arch);
        String p = arch + ".";
        JsonNodeFactory json = JsonNodeFactory.instance;
        ObjectNode c = json.objectNode();
        c.put("model_type", type);
        Tensor embed = f.tensors().get("token_embd.weight");
        if (embed == null) throw new IllegalArgumentException(f.path() + ": tensor token_embd.weight is missing");
        c.put("vocab_size", embed.shape()[0]);
        c.put("hidden_size", f.integer(p + "embedding_length"));
        c.put("num_hidden_layers", f.integer(p + "block_count"));
        long heads = f.integer(p + "attention.head_count");
        c.put("num_attention_heads", heads);
        c.put("num_key_value_heads", f.integer(p + "attention.head_count_kv", heads));
        if (f.has(p + "attention.key_length") && !arch.equals("deepseek2")) c.put("head_dim", f.integer(p + "attention.key_length"));
        c.put("max_position_embeddings", f.integer(p + "context_length", 4096));
        c.put("rms_norm_eps", f.number(p + "attention.layer_norm_rms_epsilon"));
        ObjectNode rope = c.putObject("rope_parameters");
        rope.put("rope_theta", f.number(p + "rope.freq_base", 10000.0));
        rope.put("rope_type", "default");
        String scaling = f.has(p + "rope.scaling.type") ? f.string(p + "rope.scaling.type") : "none";
        if (arch.equals("deepseek2") && scaling.equals("yarn")) {
            yarn(f, p, rope);
        } else if (!scaling.equals("none")) {
            throw new IllegalArgumentException(f.path() + ": " + p + "rope.scaling.type " + scaling
                    + " is not supported for GGUF input (default RoPE; yarn for deepseek2)");
        }
        long experts = f.integer(p + "expert_count");
        c.put("num_experts_per_tok", f.integer(p + "expert_used_count"));
        c.put("intermediate_size", f.integer(p + "feed_forward_length", f.integer(p + "expert_feed_forward_length", 0)));
        boolean llamaNorm = arch.equals("qwen3moe") || arch.equals("llama");
        c.put("norm_topk_prob", f.bool(p + "expert_weights_norm", llamaNorm));
        switch (type) {
            case "olmoe" -> c.put("num_experts", experts);
            case "mixtral" -> c.put("num_local_experts", experts);
            case "qwen2_moe" -> {
                c.put("num_experts", experts);
                c.put("moe_intermediate_size", f.integer(p + "expert_feed_forward_length"));
                c.put("shared_expert_intermediate_size", f.integer(p + "expert_shared_feed_forward_length"));
                c.put("qkv_bias", f.tensors().containsKey("blk.0.attn_q.bias"));
            }
            case "qwen3_moe" -> {
                c.put("num_experts", experts);
                c.put("moe_intermediate_size", f.integer(p + "expert_feed_forward_length"));
            }
            default -> deepseek(f, p, c);
        }
        c.put("tie_word_embeddings", !f.tensors().containsKey("output.weight"));
        if (f.has("tokenizer.ggml.eos_token_id")) c.put("eos_token_id", f.integer("tokenizer.ggml.eos_token_id"));
        if (f.has("tokenizer.ggml.bos_token_id")) c.put("bos_token_id", f.integer("tokenizer.ggml.bos_token_id"));
        if (f.has("tokenizer.ggml.padding_token_id")) c.put("pad_token_id", f.integer("tokenizer.ggml.padding_token_id"));
        c.put("dtype", "float32");
        return ConfigReader.parse(new ConfigReader.Keys(c, f.path() + " (GGUF metadata)"));
    }

    /**
     * The DeepSeek keys of a {@code deepseek2} file, undoing {@code conversion/deepseek.py}
     * {@code DeepseekV2Model.set_gguf_parameters} (lines 319–386) as {@code src/models/deepseek2.cpp}
     * lines 3–38 reads them:
     * <ol>
     *   <li>gating: {@code expert_gating_func} 2 (sigmoid, written from scoring_func by
     *       {@code conversion/base.py} lines 1364–1366) is DeepSeek-V3's router → deepseek_v3; absent or 1 (softmax;
     *       llama.cpp treats absent as softmax, deepseek2.cpp lines 23–31) → deepseek_v2, group-limited when
     *       {@code expert_group_count} > 1 (HF V2 scores a group by its max, llama.cpp by its top-2 sum — capmoe keeps
     *       the checkpoint's own HF semantics);
     *   <li>heads: the converter writes {@code head_count_kv} = 1 (MLA as MQA, deepseek.py line 326); HF has one
     *       key/value head per query head, so num_key_value_heads = head_count;
     *   <li>head sizes: {@code key_length_mla} = qk_nope + qk_rope and {@code value_length_mla} = v_head_dim
     *       (lines 352–353; {@code key_length}/{@code value_length} then hold the latent sizes); files written before
     *       the {@code _mla} keys hold the MHA sizes in {@code key_length}/{@code value_length}, as llama.cpp's
     *       {@code n_embd_head_k_mla()} falls back to; qk_rope = {@code rope.dimension_count};
     *   <li>{@code q_lora_rank} absent = null (V2-Lite: plain q_proj), {@code kv_lora_rank}, {@code leading_dense_block_count}
     *       = first_k_dense_replace, {@code expert_shared_count}, {@code expert_feed_forward_length} = moe_intermediate_size;
     *   <li>{@code expert_weights_scale} = routed_scaling_factor (absent: 1, llama.cpp skips the scaling) and
     *       {@code expert_weights_norm} = norm_topk_prob (absent: false, the converter writes it only when true);
     *   <li>RoPE on adjacent pairs (llama.cpp runs deepseek2 with LLAMA_ROPE_TYPE_NORM; the converter does not permute
     *       q/k), i.e. rope_interleave.
     * </ol>
     */
    private static void deepseek(GgufFile f, String p, ObjectNode c) {
        long gating = f.integer(p + "expert_gating_func", 1);
        if (gating != 1 && gating != 2) {
            throw new IllegalArgumentException(f.path() + ": " + p + "expert_gating_func " + gating
                    + " is not supported (1 = softmax: DeepSeek-V2, 2 = sigmoid: DeepSeek-V3)");
        }
        boolean v3 = gating == 2;
        c.put("model_type", v3 ? "deepseek_v3" : "deepseek_v2");
        c.put("num_key_value_heads", f.integer(p + "attention.head_count"));
        long rope = f.integer(p + "rope.dimension_count");
        boolean mla = f.has(p + "attention.key_length_mla");
        long key = f.integer(p + (mla ? "attention.key_length_mla" : "attention.key_length"));
        long value = f.integer(p + (mla ? "attention.value_length_mla" : "attention.value_length"));
        if (key <= rope) {
            throw new IllegalArgumentException(f.path() + ": " + p + "attention.key_length" + (mla ? "_mla " : " ") + key
                    + " must exceed " + p + "rope.dimension_count " + rope + " (qk_nope_head_dim + qk_rope_head_dim)");
        }
        c.put("qk_rope_head_dim", rope);
        c.put("qk_nope_head_dim", key - rope);
        c.put("v_head_dim", value);
        c.put("kv_lora_rank", f.integer(p + "attention.kv_lora_rank"));
        if (f.has(p + "attention.q_lora_rank")) c.put("q_lora_rank", f.integer(p + "attention.q_lora_rank"));
        else c.putNull("q_lora_rank");
        c.put("n_routed_experts", f.integer(p + "expert_count"));
        c.put("n_shared_experts", f.integer(p + "expert_shared_count"));
        c.put("moe_intermediate_size", f.integer(p + "expert_feed_forward_length"));
        c.put("intermediate_size", f.integer(p + "feed_forward_length"));
        c.put("first_k_dense_replace", f.integer(p + "leading_dense_block_count", 0));
        c.put("routed_scaling_factor", decimal(f.number(p + "expert_weights_scale", 1.0)));
        c.put("norm_topk_prob", f.bool(p + "expert_weights_norm", false));
        long groups = f.integer(p + "expert_group_count", 1);
        c.put("n_group", groups);
        c.put("topk_group", f.integer(p + "expert_group_used_count", 1));
        c.put("topk_method", v3 ? "noaux_tc" : groups > 1 ? "group_limited_greedy" : "greedy");
        c.put("scoring_func", v3 ? "sigmoid" : "softmax");
        c.put("rope_interleave", true);
    }

    /**
     * YaRN as the converter writes it ({@code conversion/base.py} lines 1304–1316: factor, original context,
     * beta_fast/slow; {@code conversion/deepseek.py} line 386: {@code yarn_log_multiplier} = 0.1 · mscale_all_dim,
     * which deepseek2.cpp line 37 divides by 0.1f again). DeepSeek's configs set mscale = mscale_all_dim (the
     * cos/sin factor is then 1, as llama.cpp computes it); other yarn_ext_factor / yarn_attn_factor values are refused.
     */
    private static void yarn(GgufFile f, String p, ObjectNode rope) {
        String s = p + "rope.scaling.";
        rope.put("rope_type", "yarn");
        rope.put("factor", decimal(f.number(s + "factor")));
        rope.put("original_max_position_embeddings", f.integer(s + "original_context_length"));
        rope.put("beta_fast", decimal(f.number(s + "yarn_beta_fast", 32)));
        rope.put("beta_slow", decimal(f.number(s + "yarn_beta_slow", 1)));
        if (f.has(s + "yarn_log_multiplier")) {
            double m = decimal((float) f.number(s + "yarn_log_multiplier") / 0.1f);
            rope.put("mscale", m);
            rope.put("mscale_all_dim", m);
        }
        for (String k : new String[] {"yarn_ext_factor", "yarn_attn_factor"}) {
            if (f.has(s + k) && f.number(s + k) != 1.0) {
                throw new IllegalArgumentException(f.path() + ": " + s + k + " " + f.number(s + k)
                        + " is not supported (DeepSeek's yarn has none; capmoe runs HF's mscale/mscale_all_dim form)");
            }
        }
    }

    /**
     * A float32 metadata value as the shortest decimal that rounds to it (0.707f → 0.707), i.e. the config.json
     * value the converter wrote, so that double arithmetic on it (yarn's mscale) matches the safetensors path.
     */
    private static double decimal(double float32) {
        return Double.parseDouble(Float.toString((float) float32));
    }

    private static final Pattern BLOCK = Pattern.compile("blk\\.(\\d+)\\.(.+)");

    /** Every tensor of {@code f} under its HF name (step 4); permuted or joined copies are allocated in {@code arena}. */
    public static Map<String, Tensor> tensors(GgufFile f, ModelConfig c, Arena arena) {
        String arch = architecture(f);
        boolean mixtral = arch.equals("llama");
        boolean deepseek = arch.equals("deepseek2");
        String moe = mixtral ? "block_sparse_moe." : "mlp.";
        String shared = deepseek ? "mlp.shared_experts." : "mlp.shared_expert.";
        Map<String, Tensor> out = new LinkedHashMap<>();
        Map<String, Tensor> kvB = new LinkedHashMap<>();   // DeepSeek's split kv_b_proj by GGUF name, joined after the loop
        for (Tensor t : f.tensors().values()) {
            String name = t.name();
            switch (name) {
                case "token_embd.weight" -> put(out, t, "model.embed_tokens.weight");
                case "output_norm.weight" -> put(out, t, "model.norm.weight");
                case "output.weight" -> put(out, t, "lm_head.weight");
                default -> {
                    Matcher m = BLOCK.matcher(name);
                    if (!m.matches()) throw unknown(f, name);
                    String p = "model.layers." + m.group(1) + ".";
                    String rest = m.group(2);
                    switch (rest) {
                        case "attn_norm.weight" -> put(out, t, p + "input_layernorm.weight");
                        case "ffn_norm.weight" -> put(out, t, p + "post_attention_layernorm.weight");
                        case "attn_q.weight", "attn_q.bias" -> put(out, mixtral ? unpermute(t, c.numAttentionHeads(), arena) : t,
                                p + "self_attn.q_proj." + suffix(rest));
                        case "attn_k.weight", "attn_k.bias" -> put(out, mixtral ? unpermute(t, c.numKeyValueHeads(), arena) : t,
                                p + "self_attn.k_proj." + suffix(rest));
                        case "attn_v.weight", "attn_v.bias" -> put(out, t, p + "self_attn.v_proj." + suffix(rest));
                        case "attn_output.weight" -> put(out, t, p + "self_attn.o_proj.weight");
                        case "attn_q_norm.weight" -> put(out, t, p + "self_attn.q_norm.weight");
                        case "attn_k_norm.weight" -> put(out, t, p + "self_attn.k_norm.weight");
                        case "ffn_gate_inp.weight" -> put(out, t, p + moe + "gate.weight");
                        case "ffn_gate_exps.weight" -> experts(out, t, p + moe + "experts.", mixtral ? "w1" : "gate_proj");
                        case "ffn_up_exps.weight" -> experts(out, t, p + moe + "experts.", mixtral ? "w3" : "up_proj");
                        case "ffn_down_exps.weight" -> experts(out, t, p + moe + "experts.", mixtral ? "w2" : "down_proj");
                        case "ffn_gate_inp_shexp.weight" -> put(out, reshape(t, 1, t.elements()), p + "mlp.shared_expert_gate.weight");
                        case "ffn_gate_shexp.weight" -> put(out, t, p + shared + "gate_proj.weight");
                        case "ffn_up_shexp.weight" -> put(out, t, p + shared + "up_proj.weight");
                        case "ffn_down_shexp.weight" -> put(out, t, p + shared + "down_proj.weight");
                        default -> {
                            if (!deepseek) throw unknown(f, name);
                            switch (rest) {
                                case "attn_q_a.weight" -> put(out, t, p + "self_attn.q_a_proj.weight");
                                case "attn_q_a_norm.weight" -> put(out, t, p + "self_attn.q_a_layernorm.weight");
                                case "attn_q_b.weight" -> put(out, t, p + "self_attn.q_b_proj.weight");
                                case "attn_kv_a_mqa.weight" -> put(out, t, p + "self_attn.kv_a_proj_with_mqa.weight");
                                case "attn_kv_a_norm.weight" -> put(out, t, p + "self_attn.kv_a_layernorm.weight");
                                case "attn_kv_b.weight" -> put(out, t, p + "self_attn.kv_b_proj.weight");   // files from before the split
                                case "attn_k_b.weight", "attn_v_b.weight" -> kvB.put(name, t);
                                case "exp_probs_b.bias" -> put(out, t, p + "mlp.gate.e_score_correction_bias");
                                case "ffn_gate.weight" -> put(out, t, p + "mlp.gate_proj.weight");
                                case "ffn_up.weight" -> put(out, t, p + "mlp.up_proj.weight");
                                case "ffn_down.weight" -> put(out, t, p + "mlp.down_proj.weight");
                                default -> throw unknown(f, name);
                            }
                        }
                    }
                }
            }
        }
        if (deepseek) deepseekTensors(f, c, kvB, out, arena);
        return out;
    }

    /**
     * DeepSeek's tensors that are not one-to-one:
     * <ol>
     *   <li>kv_b_proj: the converter splits HF's [heads·(nope + v), kv_lora] per head into attn_k_b, transposed to
     *       [heads, kv_lora, nope], and attn_v_b [heads, v, kv_lora] ({@code conversion/deepseek.py} lines 433–450);
     *       {@link #joinKvB} undoes both;
     *   <li>a sigmoid-gated MoE layer without {@code exp_probs_b} selects on the plain scores (llama.cpp loads the bias
     *       as optional, deepseek2.cpp line 137): an all-zero e_score_correction_bias.
     * </ol>
     */
    private static void deepseekTensors(GgufFile f, ModelConfig c, Map<String, Tensor> kvB, Map<String, Tensor> out, Arena arena) {
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            Tensor k = kvB.remove("blk." + l + ".attn_k_b.weight"), v = kvB.remove("blk." + l + ".attn_v_b.weight");
            if (k == null && v == null) continue;
            if (k == null || v == null) {
                throw new IllegalArgumentException(f.path() + ": tensor blk." + l + (k == null ? ".attn_v_b" : ".attn_k_b")
                        + ".weight has no partner blk." + l + (k == null ? ".attn_k_b" : ".attn_v_b") + ".weight (the two halves of kv_b_proj)");
            }
            String name = "model.layers." + l + ".self_attn.kv_b_proj.weight";
            if (out.containsKey(name)) {
                throw new IllegalArgumentException(f.path() + ": layer " + l + " has both attn_kv_b and attn_k_b/attn_v_b");
            }
            out.put(name, joinKvB(k, v, c.numAttentionHeads(), name, arena));
        }
        if (!kvB.isEmpty()) throw unknown(f, kvB.keySet().iterator().next());
        if (!c.modelType().equals("deepseek_v3")) return;
        for (int l = c.deepseek().firstKDenseReplace(); l < c.numHiddenLayers(); l++) {
            String bias = "model.layers." + l + ".mlp.gate.e_score_correction_bias";
            if (!out.containsKey(bias)) {
                out.put(bias, new Tensor(bias, DType.F32, new long[] {c.numExperts()}, arena.allocate(4L * c.numExperts(), 8), f.path()));
            }
        }
    }

    /**
     * HF's kv_b_proj [heads·(nope + v), kv_lora] from the converter's attn_k_b [heads, kv_lora, nope] and attn_v_b
     * [heads, v, kv_lora]: head h's rows are k_b[h] transposed (nope rows), then v_b[h] (v rows). Both in the same
     * float type: the result is in that type (values moved, not rounded). Otherwise (Q8_0/Q4_0, whose blocks run
     * along a transposed k_b's columns, or mixed types) it is F32 holding the exact dequantized values, at 4 bytes a
     * weight.
     */
    static Tensor joinKvB(Tensor k, Tensor v, int heads, String name, Arena arena) {
        long[] ks = k.shape(), vs = v.shape();
        if (ks.length != 3 || vs.length != 3 || ks[0] != heads || vs[0] != heads || ks[1] != vs[2]) {
            throw new IllegalArgumentException(k.file() + ": tensors " + k.name() + " " + k.shapeString() + " and " + v.name() + " "
                    + v.shapeString() + " are not [" + heads + " heads, kv_lora_rank, qk_nope_head_dim] and [" + heads
                    + " heads, v_head_dim, kv_lora_rank]");
        }
        long lora = ks[1], nope = ks[2], vDim = vs[1], rows = heads * (nope + vDim);
        boolean same = k.dtype() == v.dtype() && !k.dtype().quantized();
        DType type = same ? k.dtype() : DType.F32;
        long size = type.bytes(1);
        MemorySegment data = arena.allocate(size * rows * lora, 8);
        for (long h = 0; h < heads; h++) {
            long row0 = h * (nope + vDim);
            for (long i = 0; i < nope; i++) {
                for (long col = 0; col < lora; col++) {
                    long src = (h * lora + col) * nope + i, dst = (row0 + i) * lora + col;
                    if (same) MemorySegment.copy(k.data(), src * size, data, dst * size, size);
                    else data.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, dst, k.getFloat(src));
                }
            }
            for (long j = 0; j < vDim; j++) {
                long src = (h * vDim + j) * lora, dst = (row0 + nope + j) * lora;
                if (same) {
                    MemorySegment.copy(v.data(), src * size, data, dst * size, lora * size);
                } else {
                    for (long col = 0; col < lora; col++) data.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, dst + col, v.getFloat(src + col));
                }
            }
        }
        return new Tensor(name, type, new long[] {rows, lora}, data, k.file());
    }

    private static String suffix(String rest) {
        return rest.substring(rest.lastIndexOf('.') + 1);
    }

    private static IllegalArgumentException unknown(GgufFile f, String name) {
        return new IllegalArgumentException(f.path() + ": tensor " + name + " has no counterpart in capmoe's "
                + f.string("general.architecture") + " model");
    }

    private static void put(Map<String, Tensor> out, Tensor t, String hfName) {
        out.put(hfName, new Tensor(hfName, t.dtype(), t.shape(), t.data(), t.file()));
    }

    private static Tensor reshape(Tensor t, long... shape) {
        return new Tensor(t.name(), t.dtype(), shape, t.data(), t.file());
    }

    /** Stacked experts [E, rows, cols] → one [rows, cols] view per expert, named {@code prefix + e + "." + proj + ".weight"}. */
    private static void experts(Map<String, Tensor> out, Tensor t, String prefix, String proj) {
        if (t.shape().length != 3) {
            throw new IllegalArgumentException(t.file() + ": tensor " + t.name() + " has shape " + t.shapeString() + ", expected [experts, rows, cols]");
        }
        long experts = t.shape()[0], rows = t.shape()[1], cols = t.shape()[2];
        long bytes = t.dtype().bytes(rows * cols);
        for (long e = 0; e < experts; e++) {
            String name = prefix + e + "." + proj + ".weight";
            out.put(name, new Tensor(name, t.dtype(), new long[] {rows, cols}, t.data().asSlice(e * bytes, bytes), t.file()));
        }
    }

    /**
     * Undoes llama.cpp's q/k row permutation for {@code heads} heads: GGUF row h·d + 2i + j holds
     * HF row h·d + j·d/2 + i (d = rows per head, i < d/2, j ∈ {0, 1}). Rows are copied whole, so
     * this works for block formats too.
     */
    static Tensor unpermute(Tensor t, int heads, Arena arena) {
        long rows = t.shape()[0];
        long cols = t.shape().length > 1 ? t.shape()[1] : 1;
        if (rows % (2L * heads) != 0) {
            throw new IllegalArgumentException(t.file() + ": tensor " + t.name() + " has " + rows + " rows, not a multiple of 2 x " + heads + " heads");
        }
        long d = rows / heads, half = d / 2;
        long rowBytes = t.dtype().bytes(cols);
        MemorySegment out = arena.allocate(rowBytes * rows, 8);
        for (long h = 0; h < heads; h++) {
            for (long i = 0; i < half; i++) {
                for (long j = 0; j < 2; j++) {
                    long gguf = h * d + 2 * i + j, hf = h * d + j * half + i;
                    MemorySegment.copy(t.data(), gguf * rowBytes, out, hf * rowBytes, rowBytes);
                }
            }
        }
        return new Tensor(t.name(), t.dtype(), t.shape(), out, t.file());
    }
}
