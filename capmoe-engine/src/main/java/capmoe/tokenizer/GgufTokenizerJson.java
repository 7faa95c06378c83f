package capmoe.tokenizer;

import capmoe.weights.GgufFile;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;
import java.util.Map;

/**
 * A GGUF file's byte-level BPE vocabulary ({@code tokenizer.ggml.model = gpt2}) as a Hugging Face
 * {@code tokenizer.json}, so the same tokenizers library encodes it. llama.cpp stores the tokens
 * already in byte-level form (Ġ for a space) and merges as "left right", the layout gguf-py's
 * {@code _set_vocab_gpt2} writes from tokenizer.json, so this is its inverse:
 * <ol>
 *   <li>{@code tokenizer.ggml.tokens} with their {@code token_type} into the BPE vocab, CONTROL (3) also
 *       as special added tokens and USER_DEFINED (4) as plain added tokens (tokenizers gives an added
 *       token its vocab id), UNUSED (5) padding entries left out;
 *   <li>{@code tokenizer.ggml.merges} as the BPE merges;
 *   <li>the pre-tokenizer named by {@code tokenizer.ggml.pre} — GPT-2's ByteLevel regex for
 *       {@code gpt-2}/{@code olmo}/{@code default}, or the Split regex llama.cpp's {@code src/llama-vocab.cpp}
 *       uses for {@code qwen2} and {@code llama-bpe}; others are refused (put the model's
 *       tokenizer.json beside the GGUF file instead).
 * </ol>
 */
final class GgufTokenizerJson {
    private GgufTokenizerJson() { }

    private static final String QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final Map<String, String> SPLIT_REGEX = Map.of("qwen2", QWEN2, "llama-bpe", LLAMA3);

    static String convert(GgufFile f) {
        String model = f.string("tokenizer.ggml.model");
        if (!model.equals("gpt2")) {
            throw new IllegalArgumentException(f.path() + ": tokenizer.ggml.model is " + model
                    + "; capmoe builds only byte-level BPE (gpt2) tokenizers from GGUF — put the model's tokenizer.json beside the file");
        }
        String pre = f.has("tokenizer.ggml.pre") ? f.string("tokenizer.ggml.pre") : "default";
        List<?> tokens = f.array("tokenizer.ggml.tokens");
        List<?> types = f.has("tokenizer.ggml.token_type") ? f.array("tokenizer.ggml.token_type") : null;
        List<?> merges = f.array("tokenizer.ggml.merges");
        JsonNodeFactory json = JsonNodeFactory.instance;
        ObjectNode root = json.objectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        ObjectNode vocab = json.objectNode();
        for (int id = 0; id < tokens.size(); id++) {
            String tok = (String) tokens.get(id);
            long type = types == null ? 1 : (Long) types.get(id);
            if (type == 5) continue;
            if (type == 3 || type == 4) {
                ObjectNode a = added.addObject();
                a.put("id", id).put("content", tok).put("single_word", false).put("lstrip", false).put("rstrip", false)
                        .put("normalized", type == 4).put("special", type == 3);
            }
            vocab.put(tok, id);
        }
        root.putNull("normalizer");
        ObjectNode byteLevel = json.objectNode().put("type", "ByteLevel").put("add_prefix_space", false)
                .put("trim_offsets", true).put("use_regex", true);
        switch (pre) {
            case "gpt-2", "olmo", "default" -> root.set("pre_tokenizer", byteLevel);
            default -> {
                String regex = SPLIT_REGEX.get(pre);
                if (regex == null) {
                    throw new IllegalArgumentException(f.path() + ": tokenizer.ggml.pre " + pre + " is not known to capmoe"
                            + " (gpt-2, olmo, qwen2, llama-bpe) — put the model's tokenizer.json beside the GGUF file");
                }
                ObjectNode seq = root.putObject("pre_tokenizer").put("type", "Sequence");
                ArrayNode list = seq.putArray("pretokenizers");
                ObjectNode split = list.addObject().put("type", "Split");
                split.putObject("pattern").put("Regex", regex);
                split.put("behavior", "Isolated").put("invert", false);
                list.add(byteLevel.deepCopy().put("use_regex", false));
            }
        }
        root.putNull("post_processor");
        root.set("decoder", json.objectNode().put("type", "ByteLevel").put("add_prefix_space", true)
                .put("trim_offsets", true).put("use_regex", true));
        ObjectNode bpe = root.putObject("model");
        bpe.put("type", "BPE").putNull("dropout").putNull("unk_token").put("continuing_subword_prefix", "")
                .put("end_of_word_suffix", "").put("fuse_unk", false).put("byte_fallback", false).put("ignore_merges", false);
        bpe.set("vocab", vocab);
        ArrayNode m = bpe.putArray("merges");
        for (Object merge : merges) m.add((String) merge);
        try {
            return new ObjectMapper().writeValueAsString(root);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
