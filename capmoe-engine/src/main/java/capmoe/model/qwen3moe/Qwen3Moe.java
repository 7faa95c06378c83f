package capmoe.model.qwen3moe;

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
 * Qwen3-MoE (Qwen3-30B-A3B, 235B-A22B): GQA attention with an explicit head_dim and RMSNorm of q
 * and k per head (q_norm/k_norm [head_dim]) before RoPE; softmax top-k MoE without shared expert.
 */
public final class Qwen3Moe {
    private Qwen3Moe() { }

    public static Decoder build(ModelConfig c, Checkpoint w) {
        List<DecoderLayer> layers = new ArrayList<>();
        int h = c.hiddenSize();
        String why = "hidden_size=" + h + ", num_experts=" + c.numExperts() + ", moe_intermediate_size=" + c.moeIntermediateSize();
        RouterConfig router = new RouterConfig(c.numExperts(), c.topK(), new Gating.Softmax(w.dot() == DotMode.REDUCED), c.normTopkProb(), 1.0);
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String p = "model.layers." + i + ".";
            var attention = MultiHeadAttention.load(w, p + "self_attn.", c, QkNorm.PER_HEAD, c.attentionBias());
            FeedForward mlp;
            if (c.isMoeLayer(i)) {
                mlp = new SparseMoeBlock(i, w.matrix(p + "mlp.gate.weight", c.numExperts(), h, why), router,
                        RoutedExperts.load(w, p + "mlp.experts.", c.numExperts(), "gate_proj", "up_proj", "down_proj", h, c.moeIntermediateSize(), why),
                        null, null);
            } else {
                mlp = DenseMlp.load(w, p + "mlp.", h, c.intermediateSize(), "hidden_size=" + h + ", intermediate_size=" + c.intermediateSize());
            }
            layers.add(new DecoderLayer(w.vector(p + "input_layernorm.weight", h, why), attention,
                    w.vector(p + "post_attention_layernorm.weight", h, why), mlp));
        }
        return Decoder.load(c, w, layers);
    }
}
