package capmoe.model.deepseek;

import capmoe.model.Decoder;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.model.Trace;
import capmoe.model.nn.Batch;
import capmoe.model.nn.FeedForward;
import capmoe.model.nn.Step;
import capmoe.testing.Shared;
import capmoe.weights.Checkpoint;
import capmoe.weights.SafeTensorsFile;
import capmoe.weights.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DeepSeek-V2's group_limited_greedy router (not in the fixture, which uses greedy) checked against a
 * plain float64 transliteration of HF's DeepseekV2Moe.route_tokens_to_experts + experts + shared
 * experts, on the fixture's recorded MoE input. Tolerance 1e-5 x max|ref|: the engine computes in
 * fp32, the reference in fp64, from the same bf16 weights.
 */
class DeepSeekMoeReferenceTest {
    @TempDir
    Path tmp;

    static final int E = 16, K = 4, H = 64, I = 32, SHARED_I = 64;

    @Test
    void groupLimitedGreedyEqualsTheHfAlgorithm() throws IOException {
        Path v2 = Shared.require("fixtures/hf/deepseek_v2");
        int nGroup = 4, topkGroup = 2;
        double scaling = 1.5;
        Path dir = FixtureCopy.copy(v2, tmp.resolve("group"), FixtureCopy::same,
                "\"topk_method\": \"greedy\"", "\"topk_method\": \"group_limited_greedy\"",
                "\"n_group\": 1", "\"n_group\": " + nGroup,
                "\"topk_group\": 1", "\"topk_group\": " + topkGroup,
                "\"routed_scaling_factor\": 1.0", "\"routed_scaling_factor\": " + scaling);
        float[] x;
        try (Arena arena = Arena.ofShared()) {
            x = SafeTensorsFile.open(v2.resolve("reference.safetensors"), arena).tensors().get("moe_in.model.layers.1.mlp").toFloatArray();
        }
        int rows = x.length / H;
        float[] grouped = runMoe(dir, x, rows), greedy = runMoe(v2, x, rows);
        try (Checkpoint w = Checkpoint.open(v2)) {
            double[] ref = reference(w, "model.layers.1.mlp.", x, rows, nGroup, topkGroup, scaling);
            double[] refGreedy = reference(w, "model.layers.1.mlp.", x, rows, 1, 1, 1.0);
            assertTrue(relativeError(ref, grouped) <= 1e-5, "group_limited_greedy: " + relativeError(ref, grouped));
            assertTrue(relativeError(refGreedy, greedy) <= 1e-5, "greedy: " + relativeError(refGreedy, greedy));
            // the group limit and the scaling really changed the answer
            assertTrue(relativeError(ref, greedy) > 1e-2, "greedy vs grouped: " + relativeError(ref, greedy));
        }
    }

    private static float[] runMoe(Path dir, float[] x, int rows) {
        try (Decoder model = (Decoder) Models.load(dir)) {
            FeedForward moe = model.layers().get(1).ffn();
            float[] out = new float[rows * H];
            moe.forward(x, rows, new Step(Batch.of(new int[][] {new int[rows]}, new int[1]), RunOptions.defaults(), Trace.NONE), out);
            return out;
        }
    }

    /** HF DeepseekV2Moe.forward in float64, one token at a time. */
    private static double[] reference(Checkpoint w, String p, float[] x, int rows, int nGroup, int topkGroup, double scaling) {
        Tensor gate = w.tensor(p + "gate.weight");
        double[] out = new double[rows * H];
        int perGroup = E / nGroup;
        for (int t = 0; t < rows; t++) {
            double[] probs = new double[E];
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int e = 0; e < E; e++) {
                for (int c = 0; c < H; c++) probs[e] += x[t * H + c] * (double) gate.getFloat((long) e * H + c);
                max = Math.max(max, probs[e]);
            }
            for (int e = 0; e < E; e++) sum += probs[e] = Math.exp(probs[e] - max);
            for (int e = 0; e < E; e++) probs[e] /= sum;
            // group score = max prob in the group; keep the topk_group best groups, zero the rest
            double[] groupScore = new double[nGroup];
            for (int e = 0; e < E; e++) groupScore[e / perGroup] = Math.max(groupScore[e / perGroup], probs[e]);
            Integer[] groups = IntStream.range(0, nGroup).boxed().sorted(Comparator.comparingDouble(g -> -groupScore[g])).toArray(Integer[]::new);
            boolean[] kept = new boolean[nGroup];
            for (int g = 0; g < topkGroup; g++) kept[groups[g]] = true;
            double[] masked = new double[E];
            for (int e = 0; e < E; e++) masked[e] = kept[e / perGroup] ? probs[e] : 0.0;
            Integer[] order = IntStream.range(0, E).boxed().sorted(Comparator.comparingDouble(e -> -masked[e])).toArray(Integer[]::new);
            double[] xt = new double[H];
            for (int c = 0; c < H; c++) xt[c] = x[t * H + c];
            for (int j = 0; j < K; j++) {
                int e = order[j];
                double[] y = mlp(w, p + "experts." + e + ".", xt, I);
                for (int c = 0; c < H; c++) out[t * H + c] += probs[e] * scaling * y[c];
            }
            double[] s = mlp(w, p + "shared_experts.", xt, SHARED_I);
            for (int c = 0; c < H; c++) out[t * H + c] += s[c];
        }
        return out;
    }

    /** down(silu(gate x) * up x) in float64. */
    private static double[] mlp(Checkpoint w, String p, double[] x, int inter) {
        Tensor g = w.tensor(p + "gate_proj.weight"), u = w.tensor(p + "up_proj.weight"), d = w.tensor(p + "down_proj.weight");
        double[] a = new double[inter];
        for (int i = 0; i < inter; i++) {
            double gi = 0, ui = 0;
            for (int c = 0; c < H; c++) {
                gi += g.getFloat((long) i * H + c) * x[c];
                ui += u.getFloat((long) i * H + c) * x[c];
            }
            a[i] = gi / (1 + Math.exp(-gi)) * ui;
        }
        double[] y = new double[H];
        for (int c = 0; c < H; c++) for (int i = 0; i < inter; i++) y[c] += d.getFloat((long) c * inter + i) * a[i];
        return y;
    }

    private static double relativeError(double[] ref, float[] got) {
        double err = 0, max = 0;
        for (int i = 0; i < ref.length; i++) {
            err = Math.max(err, Math.abs(ref[i] - got[i]));
            max = Math.max(max, Math.abs(ref[i]));
        }
        return err / max;
    }
}
