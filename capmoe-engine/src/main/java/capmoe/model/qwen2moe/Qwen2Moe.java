package capmoe.model.qwen2moe;

import capmoe.kernels.DotMode;
import capmoe.model.Decoder;
import capmoe.model.ModelConfig;
import capmoe.model.nn.DecoderLayer;
import capmoe.model.nn.DenseMlp;
import capmoe.model.nn.FeedForward;
import capmoe.model.nn.MultiHeadAttention;
import capmoe.model.nn.MultiHeadAttention.QkNorm;
import capmoe.model.nn.RoutedExperts;
import capmoe.model.nn.SparseMoeBlock;
import capmoe.routing.Gating;
import capmoe.routing.RouterConfig;
import capmoe.weights.Checkpoint;

import java.util.ArrayList;
import java.util.List;

/**
 * Qwen2-MoE (Qwen1.5-MoE-A2.7B, Qwen2-57B-A14B): GQA attention with q/k/v bias; the MoE block adds
 * a shared expert ({@code mlp.shared_expert}) scaled per token by sigmoid({@code mlp.shared_expert_gate}(x)).
 * Layers listed in mlp_only_layers, or off the decoder_sparse_step grid, are dense MLPs.
 */
public final class Qwen2Moe {
    private Qwen2Moe() { }

    public static Decoder build(ModelConfig c, Checkpoint w) {
        List<DecoderLayer> layers = new ArrayList<>();
        int h = c.hiddenSize();
        String why = "hidden_size=" + h + ", num_experts=" + c.numExperts() + ", moe_intermediate_size=" + c.moeIntermediateSize()
                + ", shared_expert_intermediate_size=" + c.sharedExpertIntermediateSize();
        RouterConfig router = new RouterConfig(c.numExperts(), c.topK(), new Gating.Softmax(w.dot() == DotMode.REDUCED), c.normTopkProb(), 1.0);
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String p = "model.layers." + i + ".";
            var attention = MultiHeadAttention.load(w, p + "self_attn.", c, QkNorm.NONE, c.attentionBias());
            FeedForward mlp;
            if (c.isMoeLayer(i)) {
                mlp = new SparseMoeBlock(i, w.matrix(p + "mlp.gate.weight", c.numExperts(), h, why), router,
                        RoutedExperts.load(w, p + "mlp.experts.", c.numExperts(), "gate_proj", "up_proj", "down_proj", h, c.moeIntermediateSize(), why),
                        DenseMlp.load(w, p + "mlp.shared_expert.", h, c.sharedExpertIntermediateSize(), why),
                        w.matrix(p + "mlp.shared_expert_gate.weight", 1, h, why));
            } else {
                mlp = DenseMlp.load(w, p + "mlp.", h, c.intermediateSize(), "hidden_size=" + h + ", intermediate_size=" + c.intermediateSize());
            }
            layers.add(new DecoderLayer(w.vector(p + "input_layernorm.weight", h, why), attention,
                    w.vector(p + "post_attention_layernorm.weight", h, why), mlp));
        }
        return Decoder.load(c, w, layers);
    }
}
