package capmoe.tokenizer;

import capmoe.testing.Shared;
import capmoe.weights.GgufWriter;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The tokenizer rebuilt from a GGUF file's vocabulary encodes WikiText-2 exactly as the model's own
 * tokenizer.json. The GGUF vocabulary is written as llama.cpp's converter writes it
 * ({@code ../shared/tools/llama.cpp/hf_olmoe_to_gguf.py}, after gguf-py's {@code _set_vocab_gpt2}):
 * tokens by id padded with UNUSED [PADi] entries to vocab_size, added tokens CONTROL, merges "a b".
 */
class GgufTokenizerTest {
    @TempDir
    Path tmp;

    @Test
    void ggufVocabularyEncodesLikeTokenizerJson() throws IOException {
        Path dir = Shared.require("models/olmoe-tiny");
        JsonNode tok = new ObjectMapper().readTree(dir.resolve("tokenizer.json").toFile());
        int vocabSize = new ObjectMapper().readTree(dir.resolve("config.json").toFile()).get("vocab_size").asInt();
        Map<Integer, String> byId = new HashMap<>();
        tok.get("model").get("vocab").fields().forEachRemaining(e -> byId.put(e.getValue().asInt(), e.getKey()));
        Map<String, Boolean> added = new HashMap<>();
        for (JsonNode a : tok.get("added_tokens")) {
            byId.put(a.get("id").asInt(), a.get("content").asText());
            added.put(a.get("content").asText(), a.get("special").asBoolean());
        }
        List<String> tokens = new ArrayList<>();
        int[] types = new int[vocabSize];
        for (int i = 0; i < vocabSize; i++) {
            String s = byId.get(i);
            tokens.add(s == null ? "[PAD" + i + "]" : s);
            types[i] = s == null ? 5 : added.containsKey(s) ? (added.get(s) ? 3 : 4) : 1;
        }
        List<String> merges = new ArrayList<>();
        for (JsonNode m : tok.get("model").get("merges")) merges.add(m.isArray() ? m.get(0).asText() + " " + m.get(1).asText() : m.asText());
        Path gguf = tmp.resolve("olmoe-tiny.gguf");
        new GgufWriter().kv("general.architecture", "olmoe").kv("tokenizer.ggml.model", "gpt2").kv("tokenizer.ggml.pre", "gpt-2")
                .kv("tokenizer.ggml.tokens", tokens).kv("tokenizer.ggml.token_type", new GgufWriter.I32s(types))
                .kv("tokenizer.ggml.merges", merges).write(gguf);

        String text = Files.readString(Shared.require("data/wikitext-2/test.txt")).substring(0, 200_000);
        try (HfTokenizer reference = HfTokenizer.load(dir); HfTokenizer fromGguf = HfTokenizer.load(gguf)) {
            assertTrue(fromGguf.toString().contains("olmoe-tiny.gguf"), fromGguf.toString());
            int[] ids = reference.encode(text);
            assertArrayEquals(ids, fromGguf.encode(text));
            assertArrayEquals(reference.encode("<|endoftext|>Hello  world\n\n"), fromGguf.encode("<|endoftext|>Hello  world\n\n"));
            assertEquals(text, fromGguf.decode(ids));
        }
    }
}
