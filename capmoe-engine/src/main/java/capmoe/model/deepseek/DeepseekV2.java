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
 * DeepSeek-V2 / V2-Lite (model_type deepseek_v2) as HF transformers 5 runs it: multi-head latent
 * attention with RoPE on adjacent pairs of q_pe/k_pe (HF rotates them as complex numbers), yarn
 * frequencies from rope_parameters and, as in V3, the softmax scale qk_head_dim^-0.5 multiplied by
 * yarn_get_mscale(factor, mscale_all_dim)^2 (the V2 fixture, yarn with mscale_all_dim=0.707, fails by
 * 2e-3 relative without it and matches to 3e-7 with it); dense layers before first_k_dense_replace, then MoE layers whose
 * router is softmax top-k ({@code topk_method=greedy}) or group-limited ({@code group_limited_greedy}:
 * best topk_group of n_group groups by their max score). Top-k weights are multiplied by
 * routed_scaling_factor and, as in HF's DeepseekV2Moe, never renormalised (norm_topk_prob is ignored).
 */
public final class DeepseekV2 {
    private DeepseekV2() { }

    public static Decoder build(ModelConfig c, Checkpoint w) {
        DeepSeekConfig d = c.deepseek();
        RouterConfig router = new RouterConfig(c.numExperts(), c.topK(), gating(d), false, d.routedScalingFactor());
        double scale = DeepSeekLayers.yarnScale(d, c.rope());
        List<DecoderLayer> layers = new ArrayList<>();
        for (int i = 0; i < c.numHiddenLayers(); i++) {
            var attention = LatentAttention.load(w, "model.layers." + i + ".self_attn.", c, true, scale);
            layers.add(DeepSeekLayers.load(w, c, i, attention, (layer, prefix) -> router));
        }
        return Decoder.load(c, w, layers);
    }

    static Gating gating(DeepSeekConfig d) {
        return switch (d.topkMethod()) {
            case "greedy" -> new Gating.Softmax();
            case "group_limited_greedy" -> new Gating.SoftmaxGroupLimited(d.nGroup(), d.topkGroup());
            default -> throw new IllegalArgumentException("config.json: topk_method \"" + d.topkMethod()
                    + "\" is not one DeepSeek-V2 knows (greedy, group_limited_greedy)");
        };
    }
}
