package capmoe.model;

import capmoe.files.AtomicFile;
import capmoe.weights.DType;
import capmoe.weights.SafeTensorsWriter;
import capmoe.weights.SafeTensorsWriter.Entry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Writes a real hub-layout OLMoE checkpoint (config.json + model.safetensors) with random bf16
 * weights, for benchmarks at a real model's shape without downloading one. Weights are uniform
 * with variance 1/fan_in so activations stay in a realistic range; norms are 1.
 */
public final class SyntheticCheckpoint {
    private SyntheticCheckpoint() { }

    /** The OLMoE config keys that determine the shape. */
    public record OlmoeShape(int layers, int hidden, int intermediate, int experts, int topK, int heads, int vocab) {
        /** allenai/OLMoE-1B-7B-0924. */
        public static OlmoeShape olmoe1b7b(int layers) {
            return new OlmoeShape(layers, 2048, 1024, 64, 8, 16, 50304);
        }

        /** The shape of the trained olmoe-tiny in ../shared/models (6 layers, 32 experts top-4, hidden 192). */
        public static OlmoeShape olmoeTiny() {
            return new OlmoeShape(6, 192, 96, 32, 4, 4, 8192);
        }
    }

    public static Path writeOlmoe(Path dir, OlmoeShape s, long seed) {
        return writeOlmoe(dir, s, seed, SafeTensorsWriter.Progress.NONE);
    }

    /**
     * Writes config.json, then model.safetensors (each in full or not at all: a directory that
     * has model.safetensors holds a complete checkpoint), reporting the safetensors bytes written.
     */
    public static Path writeOlmoe(Path dir, OlmoeShape s, long seed, SafeTensorsWriter.Progress progress) {
        try {
            Files.createDirectories(dir);
            AtomicFile.writeString(dir.resolve("config.json"), String.format(Locale.ROOT, """
                    {"architectures": ["OlmoeForCausalLM"], "model_type": "olmoe", "vocab_size": %d, "hidden_size": %d,
                     "intermediate_size": %d, "num_hidden_layers": %d, "num_attention_heads": %d, "num_key_value_heads": %d,
                     "num_experts": %d, "num_experts_per_tok": %d, "norm_topk_prob": false, "rms_norm_eps": 1e-05,
                     "rope_theta": 10000.0, "rope_scaling": null, "max_position_embeddings": 4096, "clip_qkv": null,
                     "tie_word_embeddings": false, "eos_token_id": 50279, "pad_token_id": 1, "torch_dtype": "bfloat16"}
                    """, s.vocab(), s.hidden(), s.intermediate(), s.layers(), s.heads(), s.heads(), s.experts(), s.topK()));
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot write " + dir + ": " + e.getMessage(), e);
        }
        List<Entry> entries = new ArrayList<>();
        long[] n = {seed};
        int h = s.hidden(), i = s.intermediate();
        entries.add(random("model.embed_tokens.weight", n, 1f, s.vocab(), h));
        for (int l = 0; l < s.layers(); l++) {
            String p = "model.layers." + l + ".";
            entries.add(Entry.constant(p + "input_layernorm.weight", DType.BF16, 1f, h));
            entries.add(Entry.constant(p + "post_attention_layernorm.weight", DType.BF16, 1f, h));
            for (String proj : new String[] {"q_proj", "k_proj", "v_proj", "o_proj"}) {
                entries.add(random(p + "self_attn." + proj + ".weight", n, scale(h), h, h));
            }
            entries.add(Entry.constant(p + "self_attn.q_norm.weight", DType.BF16, 1f, h));
            entries.add(Entry.constant(p + "self_attn.k_norm.weight", DType.BF16, 1f, h));
            entries.add(random(p + "mlp.gate.weight", n, scale(h), s.experts(), h));
            for (int e = 0; e < s.experts(); e++) {
                String q = p + "mlp.experts." + e + ".";
                entries.add(random(q + "gate_proj.weight", n, scale(h), i, h));
                entries.add(random(q + "up_proj.weight", n, scale(h), i, h));
                entries.add(random(q + "down_proj.weight", n, scale(i), h, i));
            }
        }
        entries.add(Entry.constant("model.norm.weight", DType.BF16, 1f, h));
        entries.add(random("lm_head.weight", n, scale(h), s.vocab(), h));
        SafeTensorsWriter.write(dir.resolve("model.safetensors"), java.util.Map.of("format", "pt"), entries, progress);
        return dir;
    }

    private static float scale(int fanIn) {
        return (float) Math.sqrt(3.0 / fanIn);
    }

    private static Entry random(String name, long[] seed, float scale, long... shape) {
        return Entry.random(name, DType.BF16, seed[0]++, scale, shape);
    }
}
