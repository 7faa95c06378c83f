package capmoe.model;

import capmoe.model.nn.Batch;
import capmoe.model.nn.DecoderLayer;
import capmoe.model.nn.FeedForward;
import capmoe.model.nn.Step;
import capmoe.weights.SafeTensorsFile;
import capmoe.weights.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Re-runs the inputs recorded in a reference file of the HF fixtures' format
 * ({@code reference.safetensors}: input_ids, logits, hidden_states.i, router_logits.i,
 * moe_in/moe_out.&lt;block&gt;, generate.prompt/generate.output) and compares every tensor.
 * A float tensor passes when max|ours - ref| <= tolerance * max|ref|; a generation passes when
 * every token matches.
 */
public final class ReferenceCheck {
    private ReferenceCheck() { }

    /** The fp32-from-bf16 tolerance: relative to the tensor's largest magnitude. */
    public static final double TOLERANCE = 1e-4;

    /** One compared tensor. For token sequences, error = number of mismatching tokens. */
    public record Result(String name, double maxAbsError, double maxAbsReference, boolean passed, String detail) {
        public double relativeError() { return maxAbsReference == 0 ? maxAbsError : maxAbsError / maxAbsReference; }
    }

    private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\.");

    public static List<Result> run(CausalLM model, Path referenceFile) {
        try (Arena arena = Arena.ofShared()) {
            Map<String, Tensor> ref = SafeTensorsFile.open(referenceFile, arena).tensors();
            List<Result> results = new ArrayList<>();
            RunOptions options = RunOptions.defaults();
            ModelConfig c = model.config();
            int h = c.hiddenSize();

            Tensor ids = require(ref, "input_ids", referenceFile);
            if (ids.shape().length != 2) throw new IllegalArgumentException(referenceFile + ": input_ids must be [batch, length], is " + ids.shapeString());
            int b = (int) ids.shape()[0], t = (int) ids.shape()[1];
            long[] flat = ids.toLongArray();
            int[][] seqs = new int[b][t];
            for (int i = 0; i < b; i++) for (int j = 0; j < t; j++) seqs[i][j] = (int) flat[i * t + j];

            Map<String, float[]> ours = new HashMap<>();
            List<Integer> moeLayers = new ArrayList<>();
            Trace trace = new Trace() {
                @Override
                public void hidden(int index, float[] x, int tokens) {
                    ours.put("hidden_states." + index, Arrays.copyOf(x, tokens * c.hiddenSize()));   // x may be a longer buffer
                }

                @Override
                public void routerLogits(int layer, float[] logits, int tokens) {
                    ours.put("router_logits." + moeLayers.size(), logits.clone());
                    moeLayers.add(layer);
                }
            };
            float[][] logits = model instanceof Decoder d ? d.forward(seqs, options, trace) : model.forward(seqs, options);
            float[] packed = new float[b * t * c.vocabSize()];
            for (int i = 0; i < b; i++) System.arraycopy(logits[i], 0, packed, i * t * c.vocabSize(), t * c.vocabSize());
            ours.put("logits", packed);

            for (String name : ref.keySet().stream().sorted().toList()) {
                if (name.equals("logits") || name.startsWith("hidden_states.") || name.startsWith("router_logits.")) {
                    float[] mine = ours.get(name);
                    if (mine == null) {
                        results.add(new Result(name, Double.NaN, Double.NaN, false, "the model produced no " + name));
                    } else {
                        results.add(compare(name, mine, ref.get(name)));
                    }
                }
            }
            if (model instanceof Decoder d) {
                for (String name : ref.keySet().stream().sorted().toList()) {
                    if (!name.startsWith("moe_out.")) continue;
                    String block = name.substring("moe_out.".length());
                    Tensor in = require(ref, "moe_in." + block, referenceFile);
                    Matcher m = LAYER.matcher(block + ".");
                    if (!m.find()) throw new IllegalArgumentException(referenceFile + ": cannot tell the layer of MoE block " + block);
                    int layer = Integer.parseInt(m.group(1));
                    if (layer >= d.layers().size()) throw new IllegalArgumentException(referenceFile + ": MoE block " + block + " but the model has " + d.layers().size() + " layers");
                    DecoderLayer dl = d.layers().get(layer);
                    FeedForward ffn = dl.ffn();
                    float[] x = in.toFloatArray();
                    int rows = x.length / h;
                    float[] out = new float[rows * h];
                    int[][] dummy = {new int[rows]};
                    ffn.forward(x, rows, new Step(Batch.of(dummy, new int[1]), options, Trace.NONE), out);
                    results.add(compare(name, out, ref.get(name)));
                }
            }
            if (ref.containsKey("generate.prompt") && ref.containsKey("generate.output")) {
                long[] prompt = ref.get("generate.prompt").toLongArray();
                long[] expected = ref.get("generate.output").toLongArray();
                int[] p = new int[prompt.length];
                for (int i = 0; i < p.length; i++) p[i] = (int) prompt[i];
                int n = expected.length - p.length;
                int[] got = Generator.generate(model, p, Generator.Settings.greedy(n), options, null);
                int mismatches = Math.abs(n - got.length);
                int firstBad = -1;
                for (int i = 0; i < Math.min(n, got.length); i++) {
                    if (got[i] != expected[p.length + i]) {
                        mismatches++;
                        if (firstBad < 0) firstBad = i;
                    }
                }
                String detail = mismatches == 0 ? n + " greedy tokens with the KV cache match"
                        : mismatches + " of " + n + " tokens differ (first at new token " + firstBad + "): got " + java.util.Arrays.toString(got);
                results.add(new Result("generate.output", mismatches, n, mismatches == 0, detail));
            }
            return results;
        }
    }

    private static Tensor require(Map<String, Tensor> ref, String name, Path file) {
        Tensor t = ref.get(name);
        if (t == null) throw new IllegalArgumentException("reference file " + file + " has no tensor " + name);
        return t;
    }

    static Result compare(String name, float[] mine, Tensor reference) {
        float[] ref = reference.toFloatArray();
        if (ref.length != mine.length) {
            return new Result(name, Double.NaN, Double.NaN, false,
                    "shape mismatch: reference " + reference.shapeString() + " has " + ref.length + " values, ours " + mine.length);
        }
        double err = 0, max = 0;
        for (int i = 0; i < ref.length; i++) {
            err = Math.max(err, Math.abs((double) mine[i] - ref[i]));
            max = Math.max(max, Math.abs(ref[i]));
        }
        if (Double.isNaN(err)) err = Double.POSITIVE_INFINITY;
        boolean ok = err <= TOLERANCE * max;
        return new Result(name, err, max, ok, String.format(java.util.Locale.ROOT, "max abs err %.3g, max |ref| %.3g", err, max));
    }
}
