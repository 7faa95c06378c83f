package capmoe.model.olmoe;

import capmoe.kernels.DotMode;
import capmoe.model.Decoder;
import capmoe.model.ModelConfig;
import capmoe.model.nn.DecoderLayer;
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
 * OLMoE (allenai/OLMoE-1B-7B): GQA attention whose q and k are RMS-normed over the full
 * projection width (q_norm [heads*head_dim], k_norm [kv_heads*head_dim]) before RoPE; every layer
 * is a softmax top-k MoE of SwiGLU experts ({@code mlp.experts.N.gate_proj/up_proj/down_proj},
 * router {@code mlp.gate}), top-k weights not renormalised unless norm_topk_prob.
 */
public final class Olmoe {
    private Olmoe() { }

    public static Decoder build(ModelConfig c, Checkpoint w) {
        List<DecoderLayer> layers = new ArrayList<>();
        int h = c.hiddenSize();
        String why = "hidden_size=" + h + ", num_experts=" + c.numExperts() + ", intermediate_size=" + c.moeIntermediateSize();
        RouterConfig router = new RouterConfig(c.numExperts(), c.topK(), new Gating.Softmax(w.dot() == DotMode.REDUCED), c.normTopkProb(), 1.0);
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String p = "model.layers." + i + ".";
            var attention = MultiHeadAttention.load(w, p + "self_attn.", c, QkNorm.FULL, false);
            var moe = new SparseMoeBlock(i, w.matrix(p + "mlp.gate.weight", c.numExperts(), h, why), router,
                    RoutedExperts.load(w, p + "mlp.experts.", c.numExperts(), "gate_proj", "up_proj", "down_proj", h, c.moeIntermediateSize(), why),
                    null, null);
            layers.add(new DecoderLayer(w.vector(p + "input_layernorm.weight", h, why), attention,
                    w.vector(p + "post_attention_layernorm.weight", h, why), moe));
        }
        return Decoder.load(c, w, layers);
    }
}
