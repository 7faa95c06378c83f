package capmoe.cli;

import capmoe.model.CausalLM;
import capmoe.model.ModelConfig;
import capmoe.model.Models;
import capmoe.weights.Checkpoint;
import capmoe.weights.DType;
import capmoe.weights.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code capmoe info --model DIR}: what a checkpoint is, from its config and its tensors. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Show a checkpoint's architecture, parameter counts, experts and layers.")
public final class InfoCommand implements Callable<Integer> {

    @Mixin ModelOption model;

    @Override
    public Integer call() {
        Path model = this.model.require();
        ModelConfig c = ModelConfig.read(model);
        // validate as check and every loading command do: a missing or misshapen tensor is an error, not a wrong count
        try (CausalLM ignored = Models.load(model, null, this.model.weights())) {
            // loaded: every tensor the architecture needs is there, with its shape
        }
        try (Checkpoint w = Models.checkpoint(model, this.model.weights())) {
            long total = 0, expert = 0;
            var dtypes = new java.util.TreeMap<String, Long>();
            for (Tensor t : w.tensors().values()) {
                total += t.elements();
                if (t.name().contains(".experts.")) expert += t.elements();
                dtypes.merge(loadedAs(t, w.quantize()).name(), t.elements(), Long::sum);
            }
            int moeLayers = 0;
            for (int i = 0; i < c.numHiddenLayers(); i++) if (c.isMoeLayer(i)) moeLayers++;
            long perExpert = moeLayers == 0 ? 0 : expert / ((long) c.numExperts() * moeLayers);
            long active = total - expert + (long) c.topK() * perExpert * moeLayers;
            System.out.printf(Locale.ROOT, "model          %s%n", model);
            System.out.printf(Locale.ROOT, "architecture   %s%n", c.modelType());
            System.out.printf(Locale.ROOT, "parameters     %s total, %s active per token (%s in routed experts)%n",
                    human(total), human(active), human(expert));
            System.out.printf(Locale.ROOT, "dtypes         %s%n", dtypes);
            System.out.printf(Locale.ROOT, "dot            %s%n", w.dot() == capmoe.kernels.DotMode.EXACT
                    ? "exact (weights widened to fp32, fp32 FMA chains; --dot reduced for llama.cpp's arithmetic)"
                    : "reduced (llama.cpp's arithmetic: activations rounded to the weights' dot type; native kernels: "
                            + capmoe.kernels.ReducedMatMul.kernel() + ")");
            System.out.printf(Locale.ROOT, "layers         %d (%d MoE)%n", c.numHiddenLayers(), moeLayers);
            System.out.printf(Locale.ROOT, "experts        %d routed per MoE layer, top-%d, width %d%s, norm_topk_prob=%s%n",
                    c.numExperts(), c.topK(), c.moeIntermediateSize(),
                    c.sharedExpertIntermediateSize() > 0 ? ", shared expert width " + c.sharedExpertIntermediateSize()
                            : c.deepseek() != null && c.deepseek().nSharedExperts() > 0 ? ", " + c.deepseek().nSharedExperts() + " shared" : "",
                    c.normTopkProb());
            System.out.printf(Locale.ROOT, "attention      %d heads, %d kv heads, head_dim %d%n", c.numAttentionHeads(), c.numKeyValueHeads(), c.headDim());
            System.out.printf(Locale.ROOT, "hidden         %d, vocab %d, rope %s theta=%s%n", c.hiddenSize(), c.vocabSize(), c.rope().type(), c.rope().theta());
            System.out.printf(Locale.ROOT, "tensors        %d in %s%n", w.tensors().size(), model);
        }
        return 0;
    }

    /** The dtype a tensor has once loaded: --quantize's format for the weight matrices it converts ({@link Checkpoint#quantizes}). */
    static DType loadedAs(Tensor t, DType quantize) {
        boolean converted = quantize != null && t.shape().length == 2 && !t.dtype().quantized()
                && Checkpoint.quantizes(t.name(), (int) t.shape()[1]);
        return converted ? quantize : t.dtype();
    }

    static String human(long n) {
        if (n >= 1_000_000_000L) return String.format(Locale.ROOT, "%.2fB", n / 1e9);
        if (n >= 1_000_000L) return String.format(Locale.ROOT, "%.2fM", n / 1e6);
        if (n >= 1_000L) return String.format(Locale.ROOT, "%.1fK", n / 1e3);
        return Long.toString(n);
    }
}
