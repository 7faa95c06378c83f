package capmoe.model;

import capmoe.testing.Shared;
import capmoe.weights.DType;
import capmoe.weights.GgufWriter;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GGUF files written from the HF fixtures as llama.cpp's converter lays them out
 * ({@link GgufFixtures}) give the safetensors path's logits:
 * <ul>
 *   <li>BF16 weights: bit for bit (same bytes, same kernels; the safetensors side loaded with
 *       float32 RoPE frequencies, as llama.cpp computes them);
 *   <li>F32 weights: within 1e-5 of max|logit| — the same values through the F32 instead of the BF16
 *       kernel, so only the fp32 summation order differs ({@link SameMath});
 *   <li>F16 weights: within 1e-4 — every bf16 weight is exact in f16 except those below f16's normal
 *       range (|w| < 6.1e-5), which move by at most 3e-8;
 *   <li>Q8_0 / Q4_0 weights: bit for bit equal to the safetensors path with {@code --quantize} (the
 *       same quantized bytes), which QuantizedModelTest bounds against the unquantized model.
 * </ul>
 */
class GgufModelTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"olmoe", "mixtral", "qwen2_moe", "qwen3_moe"})
    void ggufGivesTheSafetensorsLogits(String arch) throws IOException {
        Path dir = Shared.require("fixtures/hf/" + arch);
        int[][] seqs = {SameMath.tokens(13, 300, 1), SameMath.tokens(5, 300, 2)};
        float[][] ref = forward(Models.load(dir, "float32"), seqs);
        for (DType type : new DType[] {DType.BF16, DType.F32, DType.F16, DType.Q8_0, DType.Q4_0}) {
            Path gguf = GgufFixtures.write(dir, type, tmp.resolve(arch + "-" + type + ".gguf"));
            float[][] got = forward(Models.load(gguf, null, null), seqs);
            String what = arch + " " + type + " GGUF";
            switch (type) {
                case BF16 -> assertTrue(Arrays.deepEquals(ref, got), what + ": logits differ from safetensors");
                case F32 -> { for (int b = 0; b < seqs.length; b++) SameMath.assertClose(ref[b], got[b], what); }
                case F16 -> {
                    for (int b = 0; b < seqs.length; b++) {
                        double e = SameMath.relativeError(ref[b], got[b]);
                        assertTrue(e <= 1e-4, what + ": relative error " + e);
                    }
                }
                default -> {
                    float[][] quantized = forward(Models.load(dir, "float32", type), seqs);
                    assertTrue(Arrays.deepEquals(quantized, got), what + ": logits differ from safetensors --quantize " + type);
                }
            }
        }
    }

    @org.junit.jupiter.api.Test
    void unsupportedOrIncompleteGgufModelsAreClearErrors() throws IOException {
        byte[] embed = new byte[4 * 32 * 4];
        String gpt2 = loadError(new GgufWriter().kv("general.architecture", "gpt2"));
        assertTrue(gpt2.contains("GGUF architecture gpt2 is not supported"), gpt2);
        String dense = loadError(new GgufWriter().kv("general.architecture", "llama"));
        assertTrue(dense.contains("without llama.expert_count is a dense model"), dense);
        String noEmbed = loadError(new GgufWriter().kv("general.architecture", "olmoe"));
        assertTrue(noEmbed.contains("tensor token_embd.weight is missing"), noEmbed);
        String noKey = loadError(new GgufWriter().kv("general.architecture", "olmoe").tensor("token_embd.weight", 0, new long[] {4, 32}, embed));
        assertTrue(noKey.contains("missing metadata key olmoe.embedding_length"), noKey);
        String notGguf = assertThrows(IllegalArgumentException.class,
                () -> Models.load(Files.writeString(tmp.resolve("x.gguf"), "hello"), null, null)).getMessage();
        assertTrue(notGguf.contains("not a GGUF file"), notGguf);
    }

    private String loadError(GgufWriter w) throws IOException {
        Path f = tmp.resolve("bad.gguf");
        w.write(f);
        return assertThrows(IllegalArgumentException.class, () -> Models.load(f, null, null)).getMessage();
    }

    private static float[][] forward(CausalLM model, int[][] seqs) {
        try (model) {
            return model.forward(seqs, RunOptions.defaults());
        }
    }
}
