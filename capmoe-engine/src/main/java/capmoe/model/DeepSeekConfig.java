package capmoe.model;

/**
 * The DeepSeek-V2/V3 keys of config.json (multi-head latent attention and the routed/shared
 * expert layout). {@code qLoraRank} is 0 when {@code q_lora_rank} is null (V2-Lite: plain q_proj).
 */
public record DeepSeekConfig(int kvLoraRank, int qLoraRank, int qkNopeHeadDim, int qkRopeHeadDim, int vHeadDim,
                             int nSharedExperts, int firstKDenseReplace, int moeLayerFreq,
                             String topkMethod, String scoringFunc, int nGroup, int topkGroup,
                             double routedScalingFactor, boolean ropeInterleave) {

    /**
     * HF transformers 5 DeepseekV2/V3: layer i is MoE when i >= first_k_dense_replace. moe_layer_freq
     * (1 in every released DeepSeek config) is read but, as in transformers, not used.
     */
    public boolean isMoeLayer(int layer) {
        return layer >= firstKDenseReplace;
    }
}
