package capmoe.model.deepseek;

import capmoe.model.Models;
import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A DeepSeek config that contradicts its weights fails at load with one message naming the config
 * key and the tensor, instead of running with wrongly sliced latent projections.
 */
class DeepSeekBrokenCheckpointTest {
    @TempDir
    Path tmp;

    private final Path v2 = Shared.require("fixtures/hf/deepseek_v2");
    private final Path v3 = Shared.require("fixtures/hf/deepseek_v3");

    private static String loadError(Path dir) {
        return assertThrows(IllegalArgumentException.class, () -> Models.load(dir).close()).getMessage();
    }

    @Test
    void kvLoraRankThatContradictsKvAProjIsNamed() throws IOException {
        // kv_a_proj_with_mqa is [kv_lora_rank + qk_rope_head_dim, hidden] = [32 + 8, 64] in the checkpoint
        Path dir = FixtureCopy.copy(v2, tmp.resolve("kv"), FixtureCopy::same, "\"kv_lora_rank\": 32", "\"kv_lora_rank\": 24");
        String msg = loadError(dir);
        assertTrue(msg.contains("model.layers.0.self_attn.kv_a_proj_with_mqa.weight") && msg.contains("[40, 64]")
                && msg.contains("[32, 64]") && msg.contains("kv_lora_rank=24"), msg);
    }

    @Test
    void qLoraRankNullWithLowRankQueryWeightsIsNamed() throws IOException {
        Path dir = FixtureCopy.copy(v3, tmp.resolve("q"), FixtureCopy::same, "\"q_lora_rank\": 48", "\"q_lora_rank\": null");
        String msg = loadError(dir);
        assertTrue(msg.contains("q_lora_rank=null") && msg.contains("model.layers.0.self_attn.q_a_proj.weight"), msg);

        Path plain = FixtureCopy.copy(v2, tmp.resolve("q2"), FixtureCopy::same, "\"q_lora_rank\": null", "\"q_lora_rank\": 48");
        msg = loadError(plain);
        assertTrue(msg.contains("q_lora_rank=48") && msg.contains("model.layers.0.self_attn.q_proj.weight"), msg);
    }

    @Test
    void sharedExpertWidthThatContradictsTheWeightsIsNamed() throws IOException {
        // V2's shared experts are n_shared_experts (2) x moe_intermediate_size (32) = 64 wide
        Path dir = FixtureCopy.copy(v2, tmp.resolve("shared"), FixtureCopy::same, "\"n_shared_experts\": 2", "\"n_shared_experts\": 1");
        String msg = loadError(dir);
        assertTrue(msg.contains("model.layers.1.mlp.shared_experts.gate_proj.weight") && msg.contains("n_shared_experts=1"), msg);
    }

    @Test
    void missingScoreCorrectionBiasIsNamed() throws IOException {
        // HF would silently start from a zero bias; a V3 router without its bias picks different experts
        Path dir = FixtureCopy.copy(v3, tmp.resolve("bias"),
                t -> t.name().equals("model.layers.2.mlp.gate.e_score_correction_bias") ? null : FixtureCopy.same(t));
        String msg = loadError(dir);
        assertTrue(msg.contains("tensor model.layers.2.mlp.gate.e_score_correction_bias is missing"), msg);
    }

    @Test
    void unknownV2TopkMethodIsNamed() throws IOException {
        Path dir = FixtureCopy.copy(v2, tmp.resolve("topk"), FixtureCopy::same, "\"topk_method\": \"greedy\"", "\"topk_method\": \"noaux_tc\"");
        String msg = loadError(dir);
        assertTrue(msg.contains("topk_method") && msg.contains("noaux_tc") && msg.contains("group_limited_greedy"), msg);
    }
}
