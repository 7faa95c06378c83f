package capmoe.tokenizer;

import capmoe.testing.Shared;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The olmoe-tiny tokenizer must encode exactly as the Python tokenizers that made the reference ids. */
class HfTokenizerTest {

    static HfTokenizer olmoe;

    @BeforeAll
    static void load() {
        olmoe = HfTokenizer.load(Shared.require("models/olmoe-tiny"));
    }

    @Test
    void wikitextTestEncodesToTheReferencePerplexityWindows() throws IOException {
        // models/README.md: test.txt encoded whole, no special tokens; input_ids = first 8 windows of 256.
        String text = Files.readString(Shared.require("data/wikitext-2/test.txt"));
        int[] ids = olmoe.encode(text);
        long[][] reference = referenceInputIds(
                Shared.require("models/olmoe-tiny/reference_policies_wikitext2_test_logits.safetensors"));
        assertEquals(8, reference.length);
        for (int w = 0; w < reference.length; w++) {
            for (int i = 0; i < 256; i++) {
                assertEquals(reference[w][i], ids[w * 256 + i], "window " + w + " position " + i);
            }
        }
        // 240 windows of 256 tokens were scored, so the file holds at least that many.
        assertTrue(ids.length >= 240 * 256, "only " + ids.length + " tokens");
    }

    @Test
    void wikitextRoundTripsExactly() throws IOException {
        for (String split : List.of("test", "valid")) {
            String text = Files.readString(Shared.require("data/wikitext-2/" + split + ".txt"));
            assertEquals(text, olmoe.decode(olmoe.encode(text)), split + ".txt");
        }
    }

    @Test
    void piqaRoundTripsExactly() throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<String> lines = Files.readAllLines(Shared.require("data/piqa/validation.jsonl"));
        for (int n = 0; n < lines.size(); n++) {
            JsonNode item = json.readTree(lines.get(n));
            for (String field : List.of("goal", "sol1", "sol2")) {
                String s = "Question: " + item.get("goal").asText() + "\nAnswer: " + item.get(field).asText();
                assertEquals(s, olmoe.decode(olmoe.encode(s)), "line " + (n + 1) + " " + field);
            }
        }
    }

    @Test
    void byteLevelHandlesNonAsciiAndAddedTokens() {
        String s = "naïve café — 東京 🙂 end<|endoftext|>";
        int[] ids = olmoe.encode(s);
        assertEquals(s, olmoe.decode(ids));
        // The special token is matched as one added token, not split into bytes.
        assertEquals(0, ids[ids.length - 1]);
        assertEquals(8192, olmoe.vocabSize());
    }

    @Test
    void readsAnyTokenizerJsonNotOnlyOlmoes(@TempDir Path dir) throws IOException {
        // A WordLevel tokenizer with a whitespace pre-tokenizer: ids are simply looked up.
        Files.writeString(dir.resolve("tokenizer.json"), """
                {"version":"1.0","truncation":null,"padding":null,"added_tokens":[],
                 "normalizer":{"type":"Lowercase"},"pre_tokenizer":{"type":"WhitespaceSplit"},
                 "post_processor":null,"decoder":null,
                 "model":{"type":"WordLevel","vocab":{"[UNK]":0,"hello":1,"world":2},"unk_token":"[UNK]"}}
                """);
        try (HfTokenizer t = HfTokenizer.load(dir)) {
            assertArrayEquals(new int[] {1, 0, 2}, t.encode("Hello there WORLD"));
            assertEquals(3, t.vocabSize());
        }
    }

    @Test
    void missingTokenizerNamesTheFile(@TempDir Path dir) {
        var e = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.load(dir));
        assertTrue(e.getMessage().contains(dir.resolve("tokenizer.json").toString()), e.getMessage());
    }

    @Test
    void malformedTokenizerNamesTheFile(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": 7}}");
        var e = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.load(dir));
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        Files.writeString(file, "{not json");
        e = assertThrows(IllegalArgumentException.class, () -> HfTokenizer.load(dir));
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    }

    @Test
    void decodeRejectsIdsOutsideTheVocabulary() {
        var e = assertThrows(IllegalArgumentException.class, () -> olmoe.decode(new int[] {5, 8192}));
        assertTrue(e.getMessage().contains("8192") && e.getMessage().contains("position 1"), e.getMessage());
    }

    /** Reads the I64 tensor input_ids [windows x 256] from a safetensors file: 8-byte header length, JSON, data. */
    static long[][] referenceInputIds(Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file)) {
            ByteBuffer all = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size()).order(ByteOrder.LITTLE_ENDIAN);
            int headerLength = Math.toIntExact(all.getLong(0));
            byte[] header = new byte[headerLength];
            all.get(8, header);
            JsonNode t = new ObjectMapper().readTree(header).get("input_ids");
            assertEquals("I64", t.get("dtype").asText());
            int rows = t.get("shape").get(0).asInt();
            int cols = t.get("shape").get(1).asInt();
            long begin = 8 + headerLength + t.get("data_offsets").get(0).asLong();
            long[][] ids = new long[rows][cols];
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) ids[r][c] = all.getLong(Math.toIntExact(begin + 8L * (r * cols + c)));
            }
            return ids;
        }
    }
}
