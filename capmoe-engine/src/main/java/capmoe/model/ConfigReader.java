package capmoe.model;

import capmoe.files.JsonFiles;
import com.fasterxml.jackson.databind.JsonNode;


import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** Parses config.json into {@link ModelConfig}. Every error names the file and the key. */
final class ConfigReader {
    private ConfigReader() { }

    static final Set<String> MODEL_TYPES = Set.of("olmoe", "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3");

    static ModelConfig read(Path dir) {
        Path file = dir.resolve("config.json");
        if (!Files.exists(file)) throw new IllegalArgumentException("no config.json in " + dir);
        JsonNode root = JsonFiles.read(file);
        if (root == null || !root.isObject()) throw new IllegalArgumentException(file + " is not a JSON object");
        return parse(new Keys(root, file.toString()));
    }

    /** A JSON object plus where it came from, with typed getters that fail naming the key. */
    record Keys(JsonNode node, String source) {
        boolean has(String key) {
            JsonNode v = node.get(key);
            return v != null && !v.isNull();
        }

        JsonNode req(String key) {
            if (!has(key)) throw new IllegalArgumentException(source + ": missing key \"" + key + "\"");
            return node.get(key);
        }

        int integer(String key) {
            JsonNode v = req(key);
            // 64.0 is an integer written as a float; 64.5 is not
            boolean integral = v.isIntegralNumber() || (v.isFloatingPointNumber() && v.asDouble() == Math.rint(v.asDouble()));
            if (!v.isNumber() || !integral || !v.canConvertToInt()) {
                throw new IllegalArgumentException(source + ": key \"" + key + "\" must be an integer, got " + v);
            }
            return v.asInt();
        }

        int integer(String key, int dflt) { return has(key) ? integer(key) : dflt; }

        /** The first present key of several aliases; the error names them all. */
        int integerAny(String... keys) {
            for (String k : keys) if (has(k)) return integer(k);
            throw new IllegalArgumentException(source + ": missing key \"" + keys[0] + "\""
                    + (keys.length > 1 ? " (or " + String.join(", ", List.of(keys).subList(1, keys.length)) + ")" : ""));
        }

        double number(String key) {
            JsonNode v = req(key);
            if (!v.isNumber() || !Double.isFinite(v.asDouble())) {
                throw new IllegalArgumentException(source + ": key \"" + key + "\" must be a number, got " + v);
            }
            return v.asDouble();
        }

        double number(String key, double dflt) { return has(key) ? number(key) : dflt; }

        boolean bool(String key, boolean dflt) {
            if (!has(key)) return dflt;
            JsonNode v = node.get(key);
            if (!v.isBoolean()) throw new IllegalArgumentException(source + ": key \"" + key + "\" must be true or false, got " + v);
            return v.asBoolean();
        }

        String text(String key, String dflt) { return has(key) ? node.get(key).asText() : dflt; }

        List<Integer> ints(String key) {
            List<Integer> out = new ArrayList<>();
            if (!has(key)) return out;
            JsonNode v = node.get(key);
            if (v.isArray()) {
                for (JsonNode e : v) {
                    if (!e.isIntegralNumber() || !e.canConvertToInt()) {
                        throw new IllegalArgumentException(source + ": key \"" + key + "\" must be an integer or a list of integers, got " + v);
                    }
                    out.add(e.asInt());
                }
            } else if (v.isIntegralNumber() && v.canConvertToInt()) out.add(v.asInt());
            else throw new IllegalArgumentException(source + ": key \"" + key + "\" must be an integer or a list of integers, got " + v);
            return out;
        }

        Keys child(String key) {
            JsonNode v = req(key);
            if (!v.isObject()) throw new IllegalArgumentException(source + ": key \"" + key + "\" must be an object");
            return new Keys(v, source + " " + key);
        }
    }

    static ModelConfig parse(Keys c) {
        String type = c.req("model_type").asText();
        if (!MODEL_TYPES.contains(type)) {
            throw new IllegalArgumentException(c.source() + ": unknown model_type \"" + type + "\" (supported: olmoe, mixtral, qwen2_moe, qwen3_moe, deepseek_v2, deepseek_v3)");
        }
        boolean deepseekFamily = type.startsWith("deepseek");
        int hidden = positive(c, "hidden_size");
        int heads = positive(c, "num_attention_heads");
        int kvHeads = c.has("num_key_value_heads") ? positive(c, "num_key_value_heads") : heads;
        int headDim = c.has("head_dim") ? positive(c, "head_dim") : hidden / heads;
        if (!deepseekFamily && heads * headDim != hidden && !c.has("head_dim")) {
            throw new IllegalArgumentException(c.source() + ": hidden_size " + hidden + " is not divisible by num_attention_heads " + heads);
        }
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException(c.source() + ": num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        int layers = positive(c, "num_hidden_layers");
        int maxPos = c.has("max_position_embeddings") ? positive(c, "max_position_embeddings") : 4096;

        int experts;
        int moeIntermediate;
        int intermediate;
        boolean normTopk;
        int sharedIntermediate = 0;
        boolean bias = c.bool("attention_bias", false);
        switch (type) {
            case "olmoe" -> {
                experts = positive(c, "num_experts");
                intermediate = positive(c, "intermediate_size");
                moeIntermediate = intermediate;
                normTopk = c.bool("norm_topk_prob", false);
                if (c.has("clip_qkv")) throw new IllegalArgumentException(c.source() + ": key \"clip_qkv\" is set; capmoe does not support clipped q/k/v");
            }
            case "mixtral" -> {
                experts = positive(c, "num_local_experts");
                intermediate = positive(c, "intermediate_size");
                moeIntermediate = intermediate;
                normTopk = true;   // Mixtral always renormalises its top-k weights
            }
            case "qwen2_moe" -> {
                experts = c.integerAny("num_experts", "num_local_experts");
                intermediate = positive(c, "intermediate_size");
                moeIntermediate = positive(c, "moe_intermediate_size");
                sharedIntermediate = c.integer("shared_expert_intermediate_size");
                normTopk = c.bool("norm_topk_prob", false);
                bias = c.bool("qkv_bias", true);
            }
            case "qwen3_moe" -> {
                experts = c.integerAny("num_experts", "num_local_experts");
                intermediate = positive(c, "intermediate_size");
                moeIntermediate = positive(c, "moe_intermediate_size");
                normTopk = c.bool("norm_topk_prob", false);
            }
            default -> {   // deepseek_v2, deepseek_v3
                experts = positive(c, "n_routed_experts");
                intermediate = positive(c, "intermediate_size");
                moeIntermediate = positive(c, "moe_intermediate_size");
                normTopk = c.bool("norm_topk_prob", type.equals("deepseek_v3"));
            }
        }
        int topK = c.integer("num_experts_per_tok");
        if (topK < 1 || topK > experts) {
            throw new IllegalArgumentException(c.source() + ": num_experts_per_tok " + topK + " must be in 1.." + experts);
        }
        DeepSeekConfig ds = deepseekFamily ? deepseek(c, type) : null;
        if (ds != null) headDim = ds.qkNopeHeadDim() + ds.qkRopeHeadDim();

        List<Integer> eos = c.ints("eos_token_id");
        double eps = c.number("rms_norm_eps");
        if (!(eps > 0)) throw new IllegalArgumentException(c.source() + ": key \"rms_norm_eps\" must be > 0, got " + eps);
        // transformers 5 writes "dtype", older versions "torch_dtype"; each one given must be valid, and they must agree
        for (String key : List.of("dtype", "torch_dtype")) {
            if (c.has(key) && !DTYPES.contains(c.text(key, null))) {
                throw new IllegalArgumentException(c.source() + ": key \"" + key + "\" is \"" + c.text(key, null)
                        + "\"; capmoe runs float32, bfloat16 or float16");
            }
        }
        String dtype = c.text("dtype", c.text("torch_dtype", "float32"));
        if (c.has("dtype") && c.has("torch_dtype") && !dtype.equals(c.text("torch_dtype", null))) {
            throw new IllegalArgumentException(c.source() + ": keys \"dtype\" (" + dtype + ") and \"torch_dtype\" ("
                    + c.text("torch_dtype", null) + ") disagree; keep one");
        }
        if (experts < 1) throw new IllegalArgumentException(c.source() + ": the number of experts must be >= 1, got " + experts);
        return new ModelConfig(type, positive(c, "vocab_size"), hidden, layers, heads, kvHeads, headDim,
                intermediate, moeIntermediate, experts, topK, normTopk, sharedIntermediate,
                c.has("decoder_sparse_step") ? positive(c, "decoder_sparse_step") : 1, c.ints("mlp_only_layers"),
                eps, rope(c, maxPos), maxPos, bias,
                c.bool("tie_word_embeddings", false),
                c.integer("bos_token_id", -1), List.copyOf(eos), c.integer("pad_token_id", -1), ds,
                dtype);
    }

    /** The torch dtypes a config may name. */
    static final Set<String> DTYPES = Set.of("float32", "bfloat16", "float16");

    private static int positive(Keys c, String key) {
        int v = c.integer(key);
        if (v < 1) throw new IllegalArgumentException(c.source() + ": key \"" + key + "\" must be >= 1, got " + v);
        return v;
    }

    private static DeepSeekConfig deepseek(Keys c, String type) {
        boolean v3 = type.equals("deepseek_v3");
        return new DeepSeekConfig(
                c.integer("kv_lora_rank"),
                c.integer("q_lora_rank", 0),
                c.integer("qk_nope_head_dim"),
                c.integer("qk_rope_head_dim"),
                c.integer("v_head_dim"),
                c.integer("n_shared_experts", 0),
                c.integer("first_k_dense_replace", 0),
                c.integer("moe_layer_freq", 1),
                c.text("topk_method", v3 ? "noaux_tc" : "greedy"),
                c.text("scoring_func", v3 ? "sigmoid" : "softmax"),
                c.integer("n_group", 1),
                c.integer("topk_group", 1),
                c.number("routed_scaling_factor", v3 ? 2.5 : 1.0),
                c.bool("rope_interleave", v3));
    }

    /** transformers 5: rope_parameters {rope_theta, rope_type, ...}; hub: rope_theta + rope_scaling {type|rope_type, ...}. */
    static RopeConfig rope(Keys c, int maxPos) {
        Keys p;
        double theta;
        if (c.has("rope_parameters")) {
            p = c.child("rope_parameters");
            theta = p.number("rope_theta");
        } else {
            theta = c.number("rope_theta");
            if (!c.has("rope_scaling")) return RopeConfig.defaults(theta, maxPos);
            p = c.child("rope_scaling");
        }
        String type = p.text("rope_type", p.text("type", "default"));
        return switch (type) {
            case "default" -> RopeConfig.defaults(theta, maxPos);
            case "yarn" -> new RopeConfig("yarn", theta, p.number("factor"),
                    p.integer("original_max_position_embeddings", 0),
                    p.number("beta_fast", 32), p.number("beta_slow", 1),
                    p.number("mscale", 0), p.number("mscale_all_dim", 0),
                    p.number("attention_factor", Double.NaN), p.bool("truncate", true), maxPos);
            default -> throw new IllegalArgumentException(p.source() + ": rope_type \"" + type + "\" is not supported (default, yarn)");
        };
    }
}
