package capmoe.model;

import capmoe.weights.GgufFile;
import capmoe.weights.Tensor;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
 *       reshape(n_head, 2, rows/n_head/2, ...).swapaxes(1, 2)); {@link #unpermute} undoes it.
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

    /** GGUF architecture → HF model_type. */
    private static final Map<String, String> MODEL_TYPES = Map.of(
            "olmoe", "olmoe", "qwen2moe", "qwen2_moe", "qwen3moe", "qwen3_moe", "llama", "mixtral");

    /** The GGUF architecture, checked to be one capmoe runs. */
    static String architecture(GgufFile f) {
        String arch = f.string("general.architecture");
        if (!MODEL_TYPES.containsKey(arch)) {
            throw new IllegalArgumentException(f.path() + ": GGUF architecture " + arch
                    + " is not supported (capmoe reads olmoe, qwen2moe, qwen3moe, and llama with experts = Mixtral)");
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
        if (f.has(p + "attention.key_length")) c.put("head_dim", f.integer(p + "attention.key_length"));
        c.put("max_position_embeddings", f.integer(p + "context_length", 4096));
        c.put("rms_norm_eps", f.number(p + "attention.layer_norm_rms_epsilon"));
        ObjectNode rope = c.putObject("rope_parameters");
        rope.put("rope_theta", f.number(p + "rope.freq_base", 10000.0));
        rope.put("rope_type", "default");
        if (f.has(p + "rope.scaling.type") && !f.string(p + "rope.scaling.type").equals("none")) {
            throw new IllegalArgumentException(f.path() + ": " + p + "rope.scaling.type " + f.string(p + "rope.scaling.type")
                    + " is not supported for GGUF input (default RoPE only)");
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
            default -> {   // qwen3_moe
                c.put("num_experts", experts);
                c.put("moe_intermediate_size", f.integer(p + "expert_feed_forward_length"));
            }
        }
        c.put("tie_word_embeddings", !f.tensors().containsKey("output.weight"));
        if (f.has("tokenizer.ggml.eos_token_id")) c.put("eos_token_id", f.integer("tokenizer.ggml.eos_token_id"));
        if (f.has("tokenizer.ggml.bos_token_id")) c.put("bos_token_id", f.integer("tokenizer.ggml.bos_token_id"));
        if (f.has("tokenizer.ggml.padding_token_id")) c.put("pad_token_id", f.integer("tokenizer.ggml.padding_token_id"));
        c.put("dtype", "float32");
        return ConfigReader.parse(new ConfigReader.Keys(c, f.path() + " (GGUF metadata)"));
    }

    private static final Pattern BLOCK = Pattern.compile("blk\\.(\\d+)\\.(.+)");

    /** Every tensor of {@code f} under its HF name (step 4); permuted copies are allocated in {@code arena}. */
    public static Map<String, Tensor> tensors(GgufFile f, ModelConfig c, Arena arena) {
        String arch = architecture(f);
        boolean mixtral = arch.equals("llama");
        String moe = mixtral ? "block_sparse_moe." : "mlp.";
        Map<String, Tensor> out = new LinkedHashMap<>();
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
                        case "ffn_gate_shexp.weight" -> put(out, t, p + "mlp.shared_expert.gate_proj.weight");
                        case "ffn_up_shexp.weight" -> put(out, t, p + "mlp.shared_expert.up_proj.weight");
                        case "ffn_down_shexp.weight" -> put(out, t, p + "mlp.shared_expert.down_proj.weight");
                        default -> throw unknown(f, name);
                    }
                }
            }
        }
        return out;
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
