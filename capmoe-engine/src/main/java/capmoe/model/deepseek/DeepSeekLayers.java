package capmoe.model.deepseek;

import capmoe.model.DeepSeekConfig;
import capmoe.model.ModelConfig;
import capmoe.model.RopeConfig;
import capmoe.model.nn.DecoderLayer;
import capmoe.model.nn.DenseMlp;
import capmoe.model.nn.FeedForward;
import capmoe.model.nn.RoutedExperts;
import capmoe.model.nn.SparseMoeBlock;
import capmoe.routing.RouterConfig;
import capmoe.weights.Checkpoint;

/**
 * The decoder layer both DeepSeek generations share: latent attention, then a dense SwiGLU MLP for
 * the first {@code first_k_dense_replace} layers and an MoE block after them. The MoE block is the
 * engine's {@link SparseMoeBlock} (router + capacity policy + the run's expert executor) with the
 * shared experts ({@code mlp.shared_experts}, n_shared_experts x moe_intermediate_size wide) added
 * ungated. Only the router configuration differs between V2 and V3.
 */
final class DeepSeekLayers {
    private DeepSeekLayers() { }

    /** Builds the router of MoE layer {@code layer} (V3 reads its e_score_correction_bias there). */
    @FunctionalInterface
    interface RouterFactory {
        RouterConfig router(int layer, String mlpPrefix);
    }

    static DecoderLayer load(Checkpoint w, ModelConfig c, int layer, LatentAttention attention, RouterFactory routers) {
        DeepSeekConfig d = c.deepseek();
        int h = c.hiddenSize();
        String p = "model.layers." + layer + ".";
        FeedForward mlp;
        if (d.isMoeLayer(layer)) {   // layer >= first_k_dense_replace, as in transformers 5
            String why = "hidden_size=" + h + ", n_routed_experts=" + c.numExperts() + ", moe_intermediate_size=" + c.moeIntermediateSize()
                    + ", n_shared_experts=" + d.nSharedExperts();
            FeedForward shared = d.nSharedExperts() > 0
                    ? DenseMlp.load(w, p + "mlp.shared_experts.", h, d.nSharedExperts() * c.moeIntermediateSize(), why) : null;
            if (shared == null && w.has(p + "mlp.shared_experts.gate_proj.weight")) {
                throw new IllegalArgumentException("config has no n_shared_experts but the checkpoint in " + w.dir()
                        + " has tensor " + p + "mlp.shared_experts.gate_proj.weight");
            }
            mlp = new SparseMoeBlock(layer, w.matrix(p + "mlp.gate.weight", c.numExperts(), h, why), routers.router(layer, p + "mlp."),
                    RoutedExperts.load(w, p + "mlp.experts.", c.numExperts(), "gate_proj", "up_proj", "down_proj", h, c.moeIntermediateSize(), why),
                    shared, null);
        } else {
            mlp = DenseMlp.load(w, p + "mlp.", h, c.intermediateSize(), "hidden_size=" + h + ", intermediate_size=" + c.intermediateSize()
                    + " (dense layer " + layer + " < first_k_dense_replace=" + d.firstKDenseReplace() + ")");
        }
        String why = "hidden_size=" + h;
        return new DecoderLayer(w.vector(p + "input_layernorm.weight", h, why), attention,
                w.vector(p + "post_attention_layernorm.weight", h, why), mlp);
    }

    /** qk_head_dim^-0.5, the plain softmax scale of MLA. */
    static double baseScale(DeepSeekConfig d) {
        return 1.0 / Math.sqrt(d.qkNopeHeadDim() + d.qkRopeHeadDim());
    }

    /**
     * DeepSeek's yarn correction of the softmax scale (V2 and V3 alike in transformers 5.17): with a non-default RoPE and mscale_all_dim set,
     * scale *= yarn_get_mscale(factor, mscale_all_dim)^2, factor being the config's raw "factor".
     */
    static double yarnScale(DeepSeekConfig d, RopeConfig rope) {
        double scale = baseScale(d);
        if (rope.isYarn() && rope.mscaleAllDim() != 0) {
            double m = RopeConfig.yarnGetMscale(rope.factor(), rope.mscaleAllDim());
            scale *= m * m;
        }
        return scale;
    }
}
