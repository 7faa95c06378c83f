package capmoe.runtime.ep;

import capmoe.weights.DType;
import capmoe.weights.SafeTensorsWriter;
import capmoe.weights.SafeTensorsWriter.Entry;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes an OLMoE checkpoint (HF layout, bf16) with random weights whose router is skewed so
 * that expert loads are uneven like a trained router's, for benchmarking the straggler effect at
 * a real model's MoE shape without the real weights.
 *
 * <p>How the router is skewed: row e of every layer's {@code mlp.gate.weight} is uniform random
 * noise scaled by c_e = exp(skew * z_e), z_e ~ N(0, 1) drawn per layer. A token's logit for
 * expert e is then roughly N(0, c_e^2 * s^2), so experts with a large c_e reach the top-k far more
 * often. skew = 0.5 gives expert max/mean loads of about 2.8 at T=512, top-8 of 64 (trained
 * olmoe-tiny: 2.3-3.4). Everything else is uniform in +-1/sqrt(fan_in); norms are 1.
 */
public final class SkewedOlmoe {
    private SkewedOlmoe() { }

    /**
     * The shape to build. Presets are the routed-expert shapes of the paper's models from their HF
     * configs; only OLMoE's architecture is written, so a preset keeps a model's experts, top-k,
     * hidden size and expert width, not its attention or shared experts (Qwen1.5-MoE's shared
     * expert is left out).
     */
    public record Shape(int layers, int hidden, int experts, int topK, int intermediate, int heads, int vocab) {
        /** allenai/OLMoE-1B-7B-0924: 16 layers, hidden 2048, 64 experts, top-8, expert width 1024, 16 heads, vocab 50304. */
        public static final Shape OLMOE_1B_7B = new Shape(16, 2048, 64, 8, 1024, 16, 50304);
        /** mistralai/Mixtral-8x7B-v0.1: 32 layers, hidden 4096, 8 experts, top-2, expert width 14336, 32 heads, vocab 32000. */
        public static final Shape MIXTRAL_8X7B = new Shape(32, 4096, 8, 2, 14336, 32, 32000);
        /** Qwen/Qwen1.5-MoE-A2.7B routed experts: 24 layers, hidden 2048, 60 experts, top-4, width 1408, 16 heads, vocab 151936. */
        public static final Shape QWEN15_MOE_A27B = new Shape(24, 2048, 60, 4, 1408, 16, 151936);

        /** A preset by name: olmoe-1b-7b, mixtral-8x7b, qwen1.5-moe-a2.7b. */
        public static Shape named(String name) {
            return switch (name == null ? "" : name.strip().toLowerCase(java.util.Locale.ROOT)) {
                case "olmoe-1b-7b" -> OLMOE_1B_7B;
                case "mixtral-8x7b" -> MIXTRAL_8X7B;
                case "qwen1.5-moe-a2.7b" -> QWEN15_MOE_A27B;
                default -> throw new IllegalArgumentException("--shape '" + name + "': expected olmoe-1b-7b, mixtral-8x7b or qwen1.5-moe-a2.7b");
            };
        }

        /**
         * This shape with other layers and vocabulary and, when > 0, another hidden size and expert
         * width (scaled down to fit a machine); the head size stays, so the heads scale with the hidden size.
         */
        public Shape with(int layers, int vocab, int hidden, int intermediate) {
            int h = hidden > 0 ? hidden : this.hidden, headDim = this.hidden / heads;
            if (layers < 1 || vocab < 2 || h % headDim != 0 || intermediate < 0) {
                throw new IllegalArgumentException("--layers must be >= 1, --vocab >= 2, --expert-width >= 0 and --hidden a multiple of "
                        + headDim + " (the head size; got " + layers + ", " + vocab + ", " + intermediate + ", " + h + ")");
            }
            return new Shape(layers, h, experts, topK, intermediate > 0 ? intermediate : this.intermediate, h / headDim, vocab);
        }
    }

    public static void write(Path dir, Shape s, double skew, long seed) {
        try {
            Files.createDirectories(dir);
            ObjectMapper json = new ObjectMapper();
            ObjectNode c = json.createObjectNode();
            c.putArray("architectures").add("OlmoeForCausalLM");
            c.put("model_type", "olmoe");
            c.put("attention_bias", false);
            c.putNull("clip_qkv");
            c.put("hidden_act", "silu");
            c.put("hidden_size", s.hidden());
            c.put("intermediate_size", s.intermediate());
            c.put("max_position_embeddings", 4096);
            c.put("norm_topk_prob", false);
            c.put("num_attention_heads", s.heads());
            c.put("num_key_value_heads", s.heads());
            c.put("num_experts", s.experts());
            c.put("num_experts_per_tok", s.topK());
            c.put("num_hidden_layers", s.layers());
            c.put("rms_norm_eps", 1e-5);
            c.put("rope_theta", 10000.0);
            c.put("tie_word_embeddings", false);
            c.put("vocab_size", s.vocab());
            c.put("pad_token_id", 1);
            c.put("eos_token_id", 0);
            c.put("torch_dtype", "bfloat16");
            c.put("_capmoe_note", "random bf16 weights, router skew " + skew + " seed " + seed + " (capmoe.runtime.ep.SkewedOlmoe)");
            Files.writeString(dir.resolve("config.json"), json.writerWithDefaultPrettyPrinter().writeValueAsString(c));
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot write " + dir.resolve("config.json") + ": " + e.getMessage(), e);
        }
        int h = s.hidden(), inter = s.intermediate();
        float sh = (float) (1 / Math.sqrt(h)), si = (float) (1 / Math.sqrt(inter));
        List<Entry> t = new ArrayList<>();
        long k = seed * 1_000_003L;
        t.add(Entry.random("model.embed_tokens.weight", DType.BF16, k++, 1f, s.vocab(), h));
        for (int l = 0; l < s.layers(); l++) {
            String p = "model.layers." + l + ".";
            t.add(Entry.constant(p + "input_layernorm.weight", DType.BF16, 1f, h));
            t.add(Entry.constant(p + "post_attention_layernorm.weight", DType.BF16, 1f, h));
            for (String m : new String[]{"q_proj", "k_proj", "v_proj", "o_proj"}) {
                t.add(Entry.random(p + "self_attn." + m + ".weight", DType.BF16, k++, sh, h, h));
            }
            t.add(Entry.constant(p + "self_attn.q_norm.weight", DType.BF16, 1f, h));
            t.add(Entry.constant(p + "self_attn.k_norm.weight", DType.BF16, 1f, h));
            t.add(skewedRouter(p + "mlp.gate.weight", s.experts(), h, skew, k++));
            for (int e = 0; e < s.experts(); e++) {
                String q = p + "mlp.experts." + e + ".";
                t.add(Entry.random(q + "gate_proj.weight", DType.BF16, k++, sh, inter, h));
                t.add(Entry.random(q + "up_proj.weight", DType.BF16, k++, sh, inter, h));
                t.add(Entry.random(q + "down_proj.weight", DType.BF16, k++, si, h, inter));
            }
        }
        t.add(Entry.constant("model.norm.weight", DType.BF16, 1f, h));
        t.add(Entry.random("lm_head.weight", DType.BF16, k, sh, s.vocab(), h));
        SafeTensorsWriter.write(dir.resolve("model.safetensors"), Map.of("format", "pt"), t);
    }

    /** Router rows: uniform noise, row e scaled by exp(skew * z_e). */
    static Entry skewedRouter(String name, int experts, int hidden, double skew, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] w = new float[experts * hidden];
        float base = (float) (1 / Math.sqrt(hidden));
        for (int e = 0; e < experts; e++) {
            double scale = Math.exp(skew * r.nextGaussian());
            for (int i = 0; i < hidden; i++) w[e * hidden + i] = (float) ((r.nextDouble() * 2 - 1) * base * scale);
        }
        return Entry.of(name, DType.BF16, w, experts, hidden);
    }
}
