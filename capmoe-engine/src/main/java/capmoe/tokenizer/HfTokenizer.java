package capmoe.tokenizer;

import capmoe.files.JsonFiles;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;

import capmoe.weights.GgufFile;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A model's {@code tokenizer.json} run by the real Hugging Face tokenizers library (Rust), through
 * DJL's JNI binding, so that every tokenizer HF can load (byte-level BPE, Metaspace/SentencePiece,
 * WordPiece, normalizers, added tokens) encodes exactly as in Python.
 *
 * <p>Works offline: the DJL jar carries the native library for linux x86_64/aarch64, macOS aarch64
 * and Windows x86_64 and copies it to DJL's cache dir ({@code ~/.djl.ai}, or {@code DJL_CACHE_DIR})
 * on first use. On a machine with a CUDA GPU, DJL would otherwise pick a CUDA flavour of the
 * library that is not in the jar and try to download it, so we pin the CPU flavour.
 *
 * <p>Encoding never adds special tokens, truncates or pads: callers build exactly the token
 * sequences they score.
 */
public final class HfTokenizer implements Tokenizer, AutoCloseable {

    private final Path file;
    private final HuggingFaceTokenizer hf;
    private final int vocabSize;

    private HfTokenizer(Path file, HuggingFaceTokenizer hf, int vocabSize) {
        this.file = file;
        this.hf = hf;
        this.vocabSize = vocabSize;
    }

    /**
     * Loads {@code modelDir/tokenizer.json} (or the file itself when given a path to a .json file).
     * For a GGUF file: the {@code tokenizer.json} beside it when there is one, else the GGUF's own
     * byte-level BPE vocabulary ({@link GgufTokenizerJson}).
     */
    public static HfTokenizer load(Path modelDir) {
        if (GgufFile.isGguf(modelDir)) {
            Path parent = modelDir.toAbsolutePath().getParent();
            Path beside = parent.resolve("tokenizer.json");
            return Files.isRegularFile(beside) ? load(beside) : fromGguf(modelDir);
        }
        Path file = Files.isDirectory(modelDir) ? modelDir.resolve("tokenizer.json") : modelDir;
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("No tokenizer: " + file + " does not exist (a Hugging Face "
                    + "tokenizer.json is expected beside config.json)");
        }
        int vocabSize = vocabSize(file);
        pinCpuFlavour();
        HuggingFaceTokenizer hf;
        try {
            hf = HuggingFaceTokenizer.newInstance(file, Map.of(
                    "addSpecialTokens", "false", "truncation", "false", "padding", "false"));
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read tokenizer " + file + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            // The Rust side reports malformed or unsupported tokenizer.json content this way.
            throw new IllegalArgumentException("Hugging Face tokenizers cannot load " + file + ": " + e.getMessage(), e);
        }
        return new HfTokenizer(file, hf, vocabSize);
    }

    private static HfTokenizer fromGguf(Path gguf) {
        String json;
        try (Arena arena = Arena.ofConfined()) {
            json = GgufTokenizerJson.convert(GgufFile.open(gguf, arena));
        }
        Path tmp = null;
        try {
            tmp = Files.createTempFile("capmoe-gguf-tokenizer", ".json");
            Files.writeString(tmp, json);
            HfTokenizer t = load(tmp);
            return new HfTokenizer(gguf, t.hf, t.vocabSize);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the tokenizer of " + gguf + " to a temporary file: " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // a left-over temporary file is harmless
                }
            }
        }
    }

    @Override
    public int[] encode(String text) {
        long[] ids = hf.encode(text, false, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) out[i] = Math.toIntExact(ids[i]);
        return out;
    }

    /** Decodes ids back to text, special tokens included (so that decode(encode(s)) == s for byte-level BPE). */
    @Override
    public String decode(int[] ids) {
        long[] wide = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocabSize) {
                throw new IllegalArgumentException("Token id " + ids[i] + " at position " + i
                        + " is outside the vocabulary of " + file + " (size " + vocabSize + ")");
            }
            wide[i] = ids[i];
        }
        return hf.decode(wide, false);
    }

    /** One more than the largest id of the model vocabulary and the added tokens. */
    @Override
    public int vocabSize() {
        return vocabSize;
    }

    @Override
    public void close() {
        hf.close();
    }

    @Override
    public String toString() {
        return "HfTokenizer[" + file + ", vocab " + vocabSize + "]";
    }

    /** The native library does not expose the vocabulary size, so read it from the JSON. */
    private static int vocabSize(Path file) {
        JsonNode root = JsonFiles.read(file);
        if (root == null || !root.isObject()) throw new IllegalArgumentException("tokenizer " + file + " is not a JSON object");
        JsonNode vocab = root.path("model").path("vocab");
        int max = -1;
        if (vocab.isObject()) {
            // BPE / WordPiece / WordLevel: {"token": id, ...}
            for (JsonNode id : (Iterable<JsonNode>) vocab::elements) max = Math.max(max, id.asInt());
        } else if (vocab.isArray()) {
            // Unigram: [["piece", score], ...], ids are positions.
            max = vocab.size() - 1;
        } else {
            throw new IllegalArgumentException("Tokenizer " + file + " has no model.vocab (object or array)");
        }
        for (JsonNode added : root.path("added_tokens")) max = Math.max(max, added.path("id").asInt(-1));
        return max + 1;
    }

    private static void pinCpuFlavour() {
        if (System.getenv("RUST_FLAVOR") == null && System.getProperty("RUST_FLAVOR") == null) {
            System.setProperty("RUST_FLAVOR", "cpu");
        }
    }
}
