package capmoe.model.mixtral;

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
 * Mixtral: plain GQA attention (no bias, no q/k norm); every layer a softmax top-k MoE under
 * {@code block_sparse_moe} (router {@code gate}, experts {@code experts.N.w1} = gate,
 * {@code w3} = up, {@code w2} = down); top-k weights always renormalised to sum 1.
 */
public final class Mixtral {
    private Mixtral() { }

    public static Decoder build(ModelConfig c, Checkpoint w) {
        List<DecoderLayer> layers = new ArrayList<>();
        int h = c.hiddenSize();
        String why = "hidden_size=" + h + ", num_local_experts=" + c.numExperts() + ", intermediate_size=" + c.moeIntermediateSize();
        RouterConfig router = new RouterConfig(c.numExperts(), c.topK(), new Gating.Softmax(w.dot() == DotMode.REDUCED), true, 1.0);
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            String p = "model.layers." + i + ".";
            var attention = MultiHeadAttention.load(w, p + "self_attn.", c, QkNorm.NONE, false);
            var moe = new SparseMoeBlock(i, w.matrix(p + "block_sparse_moe.gate.weight", c.numExperts(), h, why), router,
                    RoutedExperts.load(w, p + "block_sparse_moe.experts.", c.numExperts(), "w1", "w3", "w2", h, c.moeIntermediateSize(), why),
                    null, null);
            layers.add(new DecoderLayer(w.vector(p + "input_layernorm.weight", h, why), attention,
                    w.vector(p + "post_attention_layernorm.weight", h, why), moe));
        }
        return Decoder.load(c, w, layers);
    }
}
