package capmoe.model.deepseek;

import capmoe.model.DeepSeekConfig;
import capmoe.model.Decoder;
import capmoe.model.ModelConfig;
import capmoe.model.nn.DecoderLayer;
import capmoe.routing.Gating;
import capmoe.routing.RouterConfig;
import capmoe.weights.Checkpoint;

import java.util.ArrayList;
import java.util.List;

/**
 * DeepSeek-V3 / R1 (model_type deepseek_v3) as HF transformers 5 runs it: the same latent attention
 * as V2 (q_pe/k_pe de-interleaved before rotate-half when rope_interleave), the softmax scale
 * multiplied by yarn_get_mscale(factor, mscale_all_dim)^2 under yarn RoPE, and a sigmoid router:
 * experts are chosen on sigmoid(logit) + {@code mlp.gate.e_score_correction_bias} within the
 * topk_group best of n_group groups (group score = sum of its top-2), weighted by the unbiased
 * sigmoid scores, renormalised when norm_topk_prob, times routed_scaling_factor. HF uses this router
 * whatever topk_method / scoring_func say, and so do we.
 */
public final class DeepseekV3 {
    private DeepseekV3() { }

    public static Decoder build(ModelConfig c, Checkpoint w) {
        DeepSeekConfig d = c.deepseek();
        double scale = DeepSeekLayers.yarnScale(d, c.rope());
        List<DecoderLayer> layers = new ArrayList<>();
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            var attention = LatentAttention.load(w, "model.layers." + i + ".self_attn.", c, d.ropeInterleave(), scale);
            layers.add(DeepSeekLayers.load(w, c, i, attention, (layer, prefix) -> {
                float[] bias = w.vector(prefix + "gate.e_score_correction_bias", c.numExperts(), "n_routed_experts=" + c.numExperts());
                return new RouterConfig(c.numExperts(), c.topK(), new Gating.SigmoidGroupLimited(d.nGroup(), d.topkGroup(), bias),
                        c.normTopkProb(), d.routedScalingFactor());
            }));
        }
        return Decoder.load(c, w, layers);
    }
}
