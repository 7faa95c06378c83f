package capmoe.eval;

import capmoe.model.CausalLM;
import capmoe.model.RunOptions;
import capmoe.testing.Shared;
import capmoe.tokenizer.HfTokenizer;
import capmoe.weights.SafeTensorsFile;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Conformance with PyTorch on the trained olmoe-small (64 experts, top-8; shared/models/README.md),
 * the subset that fits a test: every policy of the reference JSONs once, spread over both texts
 * (held-out Gutenberg books, WikiText-2 test; 8 forward passes), the logits of window 0, positions 0-31, computed
 * with the first 8 windows in one batch (so the capacity is computed over the same 8×256 tokens),
 * within 1e-4 of max|logit| (fp32 from bf16 weights, differing from PyTorch only in summation
 * order; a routing difference, one pair kept instead of another, shows as > 1e-2). The reference
 * ran the model in fp32, hence dtype float32 (fp32 RoPE inv_freq). The windows are checked too: the
 * reference's input_ids are the first 8×256 tokens of the file encoded, no special tokens
 * ({@link Task.TokenWindows}; the first 24,000 characters are encoded here, which give the same
 * first 2048 tokens as the whole file, as the comparison shows). The full 240-window perplexities are compared by
 * {@code capmoe eval ... --limit 240} (README, "Conformance on olmoe-small"), too heavy for a test.
 */
class OlmoeSmallConformanceTest {

    static final double TOLERANCE = 1e-4;
    static final int WINDOWS = 8, SEQ = 256, POSITIONS = 32;

    static CausalLM model;
    static HfTokenizer tokenizer;

    @BeforeAll
    static void load() {
        Path dir = Shared.require("models/olmoe-small");
        model = ModelLoader.load(dir, "float32");
        tokenizer = HfTokenizer.load(dir);
    }

    @AfterAll
    static void close() {
        if (tokenizer != null) tokenizer.close();
        if (model != null) model.close();
    }

    static final String HELDOUT = "none score@1.0 order@1.0 score@2.0 expanded@1.5";
    static final String WIKITEXT = "score@0.5 reverse@1.0 score@1.5";

    @Test
    void theSubsetChecksEveryReferencePolicy() {
        Path dir = Shared.require("models/olmoe-small");
        Set<String> checked = new TreeSet<>(List.of((HELDOUT + " " + WIKITEXT).split(" ")));
        for (ReferencePolicies ref : ReferencePolicies.in(dir, 64)) {
            assertEquals(new TreeSet<>(ref.policies().keySet()), checked, ref.file().toString());
        }
    }

    /** The repository's root (tests run in a module directory below it). */
    static Path repo() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("models/olmoe-small/config.json"))) return p;
        }
        throw new AssertionError("no models/olmoe-small/config.json above " + Path.of("").toAbsolutePath());
    }

    /**
     * What {@code ./capmoe demo} runs is what this class checks: the bundled model is the shared
     * one byte for byte, and the bundled text slices begin with the reference's windows (their
     * first 32×256 tokens are those of the whole file).
     */
    @Test
    void theBundledModelAndSlicesAreTheReferences() throws Exception {
        Path bundled = repo().resolve("models/olmoe-small");
        Path shared = Shared.require("models/olmoe-small");
        for (String f : List.of("config.json", "model.safetensors.index.json", "model-00001-of-00003.safetensors",
                "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "tokenizer.json",
                "reference_policies_gutenberg_heldout.json", "reference_policies_wikitext2_test.json")) {
            assertEquals(-1L, Files.mismatch(bundled.resolve(f), shared.resolve(f)), "models/olmoe-small/" + f);
        }
        for (String text : List.of("data/gutenberg/heldout.txt", "data/wikitext-2/test.txt")) {
            int[] slice = tokenizer.encode(Files.readString(repo().resolve(text)));
            String whole = Files.readString(Shared.require(text));
            int[] full = tokenizer.encode(whole.substring(0, Math.min(whole.length(), 60_000)));
            assertTrue(slice.length >= 32 * SEQ, text + " holds " + slice.length + " tokens, fewer than 32 windows");
            assertArrayEquals(Arrays.copyOf(full, 32 * SEQ), Arrays.copyOf(slice, 32 * SEQ), text);
        }
    }

    @ParameterizedTest
    @CsvSource({"gutenberg_heldout, data/gutenberg/heldout.txt, " + HELDOUT, "wikitext2_test, data/wikitext-2/test.txt, " + WIKITEXT})
    void logitsMatchTheReference(String name, String text, String policies) throws Exception {
        Path dir = Shared.require("models/olmoe-small");
        ReferencePolicies ref = ReferencePolicies.read(dir.resolve("reference_policies_" + name + ".json"), 64);
        assertEquals(Path.of(text).getFileName().toString(), ref.text(), "the reference names its text");
        assertEquals(SEQ, ref.seq());
        assertEquals(WINDOWS, ref.batch());
        try (Arena arena = Arena.ofConfined()) {
            SafeTensorsFile logits = SafeTensorsFile.open(Shared.require("models/olmoe-small/reference_policies_" + name
                    + "_logits.safetensors"), arena);
            long[] ids = logits.tensors().get("input_ids").toLongArray();
            String whole = Files.readString(Shared.require(text));
            int[] tokens = tokenizer.encode(whole.substring(0, Math.min(whole.length(), 24_000)));
            int[] want = new int[WINDOWS * SEQ];
            for (int i = 0; i < want.length; i++) want[i] = (int) ids[i];
            assertArrayEquals(want, Arrays.copyOf(tokens, want.length), "input_ids = the first 8 windows of " + text);

            int[][] batch = new int[WINDOWS][];
            for (int w = 0; w < WINDOWS; w++) batch[w] = Arrays.copyOfRange(tokens, w * SEQ, (w + 1) * SEQ);
            for (String label : policies.split(" ")) {
                ReferencePolicies.Entry entry = ref.policies().get(label);
                assertNotNull(entry, "no policy " + label + " in " + ref.file());
                var tensor = logits.tensors().get("logits." + label);
                assertNotNull(tensor, "no logits." + label + " in the reference");
                float[] expected = tensor.toFloatArray();
                float[] got = model.forward(batch, RunOptions.of(entry.policy()))[0];
                assertEquals(POSITIONS * model.config().vocabSize(), expected.length);
                double maxRef = 0, maxDiff = 0;
                for (int i = 0; i < expected.length; i++) {
                    maxRef = Math.max(maxRef, Math.abs(expected[i]));
                    maxDiff = Math.max(maxDiff, Math.abs(expected[i] - got[i]));
                }
                System.out.printf("%s %-22s max |logit diff| / max |logit| over window 0, positions 0-31: %.2e%n",
                        name, entry.policy().label(), maxDiff / maxRef);
                assertTrue(maxDiff <= TOLERANCE * maxRef, name + " " + label + ": max |logit diff| " + maxDiff
                        + " > " + TOLERANCE + " x max |logit| " + maxRef);
            }
        }
    }
}
