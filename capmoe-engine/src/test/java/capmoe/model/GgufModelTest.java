package capmoe.model;

import capmoe.kernels.Matrix;
import capmoe.kernels.QuantPanels;
import capmoe.testing.Shared;
import capmoe.weights.Checkpoint;
import capmoe.weights.DType;
import capmoe.weights.GgufFile;
import capmoe.weights.GgufWriter;
import capmoe.weights.Tensor;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
 * DeepSeek (arch deepseek2) under Q8_0 / Q4_0 is the one exception: the converter stores kv_b_proj as attn_k_b
 * transposed (its quantization blocks run along qk_nope, here 16 wide, so the fixture keeps it BF16 as the
 * converter falls back to F16) and attn_v_b (blocks along kv_lora, as {@code --quantize} makes them), so the
 * joined kv_b_proj is F32 and its k rows are not quantized. {@link #quantizedDeepseekDiffersOnlyInKvB} checks
 * that every other weight is byte for byte the {@code --quantize} one and kv_b_proj element for element, and
 * the logits stay within QuantizedModelTest's bound (0.06 Q8_0, 0.5 Q4_0) of the {@code --quantize} path.
 */
class GgufModelTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"olmoe", "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3"})
    void ggufGivesTheSafetensorsLogits(String arch) throws IOException {
        Path dir = Shared.require("fixtures/hf/" + arch);
        int[][] seqs = {SameMath.tokens(13, 300, 1), SameMath.tokens(5, 300, 2)};
        float[][] ref = forward(Models.load(dir, "float32"), seqs);
        for (DType type : new DType[] {DType.BF16, DType.F32, DType.F16, DType.Q8_0, DType.Q4_0}) {
            Path gguf = GgufFixtures.write(dir, type, tmp.resolve(arch + "-" + type + ".gguf"));
            float[][] got = forward(Models.load(gguf), seqs);
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
                    if (arch.startsWith("deepseek")) {
                        quantizedDeepseekDiffersOnlyInKvB(dir, gguf, type);
                        double tol = type == DType.Q8_0 ? 0.06 : 0.5;
                        for (int b = 0; b < seqs.length; b++) {
                            double e = SameMath.relativeError(quantized[b], got[b]);
                            assertTrue(e <= tol, what + ": relative error " + e + " against --quantize " + type);
                        }
                        continue;
                    }
                    assertTrue(Arrays.deepEquals(quantized, got), what + ": logits differ from safetensors --quantize " + type);
                }
            }
        }
    }

    /** Every matrix of the quantized GGUF equals {@code --quantize}'s bytes, except kv_b_proj: see the class comment. */
    private static void quantizedDeepseekDiffersOnlyInKvB(Path dir, Path gguf, DType type) {
        try (Checkpoint g = Models.checkpoint(gguf, capmoe.weights.LoadOptions.DEFAULT); Checkpoint s = Models.checkpoint(dir, type)) {
            DeepSeekConfig d = ModelConfig.read(dir).deepseek();
            int checked = 0;
            for (Tensor t : g.tensors().values()) {
                if (t.shape().length != 2) continue;
                int rows = (int) t.shape()[0], cols = (int) t.shape()[1];
                Matrix q = s.matrix(t.name(), rows, cols, "test");
                if (t.name().endsWith("kv_b_proj.weight")) {
                    assertEquals(DType.F32, t.dtype(), t.name());
                    Tensor bf16 = s.tensor(t.name());
                    int perHead = d.qkNopeHeadDim() + d.vHeadDim();
                    for (int r = 0; r < rows; r++) {
                        boolean k = r % perHead < d.qkNopeHeadDim();
                        for (int c = 0; c < cols; c++) {
                            long i = (long) r * cols + c;
                            assertEquals(k ? bf16.getFloat(i) : q.get(i), t.getFloat(i), t.name() + " row " + r + " col " + c);
                        }
                    }
                } else if (t.dtype() == type) {
                    assertEquals(type, q.dtype(), t.name());
                    // q keeps only its panels: the GGUF's blocks, packed the same way, give the same bytes
                    assertArrayEquals(q.quantPanels().data().toArray(ValueLayout.JAVA_BYTE),
                            QuantPanels.pack(new Matrix(t.name(), type, rows, cols, t.data())).data().toArray(ValueLayout.JAVA_BYTE), t.name());
                } else {
                    assertFalse(Checkpoint.quantizes(t.name(), cols), t.name() + " should be " + type);
                }
                checked++;
            }
            assertTrue(checked > 20, "only " + checked + " matrices");
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
                () -> Models.load(Files.writeString(tmp.resolve("x.gguf"), "hello"))).getMessage();
        assertTrue(notGguf.contains("not a GGUF file"), notGguf);
    }

    @org.junit.jupiter.api.Test
    void deepseekTensorsOrKeysThatDoNotFitAreOneClearLine() throws IOException {
        Path good = GgufFixtures.write(Shared.require("fixtures/hf/deepseek_v2"), DType.BF16, tmp.resolve("ds.gguf"));
        // the converter drops DeepSeek's multi-token-prediction layers (deepseek.py lines 397-402); one here is an error
        String mtp = loadError(rewrite(good, n -> true).tensor("blk.2.nextn.eh_proj.weight", 0, new long[] {64, 128}, new byte[64 * 128 * 4]));
        assertTrue(mtp.contains("tensor blk.2.nextn.eh_proj.weight has no counterpart in capmoe's deepseek2 model"), mtp);
        String half = loadError(rewrite(good, n -> !n.equals("blk.1.attn_v_b.weight")));
        assertTrue(half.contains("tensor blk.1.attn_k_b.weight has no partner blk.1.attn_v_b.weight"), half);
        String gating = loadError(rewrite(good, n -> true).kv("deepseek2.expert_gating_func", new GgufWriter.U32(4)));
        assertTrue(gating.contains("deepseek2.expert_gating_func 4 is not supported"), gating);
        String ext = loadError(rewrite(good, n -> true).kv("deepseek2.rope.scaling.yarn_ext_factor", new GgufWriter.F32(0.5f)));
        assertTrue(ext.contains("deepseek2.rope.scaling.yarn_ext_factor 0.5 is not supported"), ext);
        String noRank = loadError(rewrite(good, n -> true).kv("deepseek2.attention.kv_lora_rank", "32"));
        assertTrue(noRank.contains("metadata key deepseek2.attention.kv_lora_rank must be an integer"), noRank);
        for (String e : new String[] {mtp, half, gating, ext, noRank}) assertFalse(e.contains("\n"), e);
    }

    /**
     * DeepSeek files written before llama.cpp split kv_b (one attn_kv_b, key/value_length the MHA head sizes, no
     * {@code _mla} keys, head_count_kv = head_count) read the same: BF16 bit for bit the safetensors logits. A
     * sigmoid-gated file without exp_probs_b gets an all-zero correction bias (llama.cpp's bias is optional).
     */
    @org.junit.jupiter.api.Test
    void deepseekFilesFromBeforeTheKvBSplitAndWithoutTheBiasRead() throws IOException {
        for (String arch : new String[] {"deepseek_v2", "deepseek_v3"}) {
            Path dir = Shared.require("fixtures/hf/" + arch);
            ModelConfig c = ModelConfig.read(dir);
            DeepSeekConfig d = c.deepseek();
            Path split = GgufFixtures.write(dir, DType.BF16, tmp.resolve(arch + "-split.gguf"));
            GgufWriter w = rewrite(split, n -> !n.endsWith("_mla") && !n.contains("attn_k_b") && !n.contains("attn_v_b"))
                    .kv("deepseek2.attention.key_length", new GgufWriter.U32(d.qkNopeHeadDim() + d.qkRopeHeadDim()))
                    .kv("deepseek2.attention.value_length", new GgufWriter.U32(d.vHeadDim()))
                    .kv("deepseek2.attention.head_count_kv", new GgufWriter.U32(c.numAttentionHeads()));
            try (Checkpoint ck = Checkpoint.open(dir)) {
                for (int l = 0; l < c.numHiddenLayers(); l++) {
                    Tensor kv = ck.tensor("model.layers." + l + ".self_attn.kv_b_proj.weight");
                    w.tensor("blk." + l + ".attn_kv_b.weight", GgufFile.ggmlType(DType.BF16), kv.shape(), kv.data().toArray(ValueLayout.JAVA_BYTE));
                }
            }
            Path legacy = tmp.resolve(arch + "-legacy.gguf");
            w.write(legacy);
            int[][] seqs = {SameMath.tokens(13, 300, 1), SameMath.tokens(5, 300, 2)};
            assertTrue(Arrays.deepEquals(forward(Models.load(dir, "float32"), seqs), forward(Models.load(legacy), seqs)),
                    arch + ": the unsplit attn_kv_b file's logits differ from safetensors");
        }
        Path v3 = GgufFixtures.write(Shared.require("fixtures/hf/deepseek_v3"), DType.BF16, tmp.resolve("v3.gguf"));
        Path noBias = tmp.resolve("v3-no-bias.gguf");
        rewrite(v3, n -> !n.contains("exp_probs_b")).write(noBias);
        try (Checkpoint ck = Models.checkpoint(noBias, capmoe.weights.LoadOptions.DEFAULT)) {
            float[] bias = ck.tensor("model.layers.1.mlp.gate.e_score_correction_bias").toFloatArray();
            assertArrayEquals(new float[16], bias);
            assertFalse(ck.has("model.layers.0.mlp.gate.e_score_correction_bias"), "layer 0 is dense");
        }
        forward(Models.load(noBias), new int[][] {SameMath.tokens(5, 300, 3)});
    }

    /** The tensors of {@code file} and the metadata keys whose names pass {@code keep}, in a writer. */
    private static GgufWriter rewrite(Path file, java.util.function.Predicate<String> keep) {
        GgufWriter w = new GgufWriter();
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            GgufFile f = GgufFile.open(file, arena);
            f.metadata().forEach((k, v) -> {
                if (keep.test(k)) w.kv(k, switch (v) {
                    case Long l -> new GgufWriter.U32(l);
                    case Double x -> new GgufWriter.F32(x.floatValue());
                    default -> v;
                });
            });
            for (Tensor t : f.tensors().values()) {
                if (keep.test(t.name())) w.tensor(t.name(), GgufFile.ggmlType(t.dtype()), t.shape(), t.data().toArray(ValueLayout.JAVA_BYTE));
            }
        }
        return w;
    }

    private String loadError(GgufWriter w) throws IOException {
        Path f = tmp.resolve("bad.gguf");
        w.write(f);
        return assertThrows(IllegalArgumentException.class, () -> Models.load(f)).getMessage();
    }

    private static float[][] forward(CausalLM model, int[][] seqs) {
        try (model) {
            return model.forward(seqs, RunOptions.defaults());
        }
    }
}
