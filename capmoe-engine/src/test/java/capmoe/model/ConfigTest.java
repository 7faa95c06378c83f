package capmoe.model;

import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** config.json of every supported model_type, in both rope styles, and its errors. */
class ConfigTest {
    @TempDir
    Path tmp;

    private Path config(String json) throws IOException {
        Path dir = Files.createTempDirectory(tmp, "cfg");
        Files.writeString(dir.resolve("config.json"), json);
        return dir;
    }

    private static final String OLMOE_HUB = """
            {"model_type": "olmoe", "vocab_size": 50304, "hidden_size": 2048, "num_hidden_layers": 16,
             "num_attention_heads": 16, "num_key_value_heads": 16, "intermediate_size": 1024, "num_experts": 64,
             "num_experts_per_tok": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "rope_scaling": null,
             "max_position_embeddings": 4096, "eos_token_id": 50279, "torch_dtype": "bfloat16", "clip_qkv": null}""";

    @Test
    void readsAllSixFixtureConfigs() {
        for (String arch : new String[] {"olmoe", "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3"}) {
            ModelConfig c = ModelConfig.read(Shared.require("fixtures/hf/" + arch));
            assertEquals(arch, c.modelType());
            assertEquals(384, c.vocabSize());
            assertEquals(64, c.hiddenSize());
            assertEquals(arch.equals("mixtral") ? 2 : 4, c.topK());
        }
        ModelConfig mixtral = ModelConfig.read(Shared.require("fixtures/hf/mixtral"));
        assertEquals(8, mixtral.numExperts());
        assertEquals(2, mixtral.numKeyValueHeads());
        assertEquals(1e6, mixtral.rope().theta());
        assertTrue(mixtral.normTopkProb(), "Mixtral always renormalises its top-k");
        ModelConfig qwen2 = ModelConfig.read(Shared.require("fixtures/hf/qwen2_moe"));
        assertEquals(64, qwen2.sharedExpertIntermediateSize());
        assertEquals(32, qwen2.moeIntermediateSize());
        assertTrue(qwen2.attentionBias());
        ModelConfig qwen3 = ModelConfig.read(Shared.require("fixtures/hf/qwen3_moe"));
        assertEquals(16, qwen3.numExperts(), "num_local_experts accepted for qwen3_moe");
        assertEquals(16, qwen3.headDim());
    }

    @Test
    void parsesTheDeepSeekKeys() {
        ModelConfig v2 = ModelConfig.read(Shared.require("fixtures/hf/deepseek_v2"));
        DeepSeekConfig d = v2.deepseek();
        assertEquals(32, d.kvLoraRank());
        assertEquals(0, d.qLoraRank(), "q_lora_rank null = no q compression");
        assertEquals(16, d.qkNopeHeadDim());
        assertEquals(8, d.qkRopeHeadDim());
        assertEquals(16, d.vHeadDim());
        assertEquals(2, d.nSharedExperts());
        assertEquals(1, d.firstKDenseReplace());
        assertEquals("greedy", d.topkMethod());
        assertFalse(v2.isMoeLayer(0));
        assertTrue(v2.isMoeLayer(1));
        assertEquals(16, v2.numExperts());
        RopeConfig y = v2.rope();
        assertTrue(y.isYarn());
        assertEquals(4.0, y.factor());
        assertEquals(128, y.originalMaxPositionEmbeddings());
        assertEquals(0.707, y.mscale());
        assertEquals(0.707, y.mscaleAllDim());
        assertEquals(1.0, y.attentionScaling(), 1e-12, "mscale == mscale_all_dim cancels");

        DeepSeekConfig v3 = ModelConfig.read(Shared.require("fixtures/hf/deepseek_v3")).deepseek();
        assertEquals(48, v3.qLoraRank());
        assertEquals(4, v3.nGroup());
        assertEquals(2, v3.topkGroup());
        assertEquals(2.5, v3.routedScalingFactor());
        assertEquals("noaux_tc", v3.topkMethod(), "the V3 default");
        assertEquals("sigmoid", v3.scoringFunc());
        assertTrue(v3.ropeInterleave());
    }

    @Test
    void hubStyleAndTransformers5StyleAgree() throws IOException {
        ModelConfig hub = ModelConfig.read(config(OLMOE_HUB));
        ModelConfig t5 = ModelConfig.read(config(OLMOE_HUB.replace("\"rope_theta\": 10000.0, \"rope_scaling\": null",
                "\"rope_parameters\": {\"rope_theta\": 10000.0, \"rope_type\": \"default\"}")));
        assertEquals(hub.rope(), t5.rope());
        assertEquals(64, hub.numExperts());
        assertEquals(8, hub.topK());
        assertEquals("bfloat16", hub.dtype());

        String yarnHub = OLMOE_HUB.replace("\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 40, "
                + "\"original_max_position_embeddings\": 4096, \"beta_fast\": 32, \"beta_slow\": 1, \"mscale\": 1.0, \"mscale_all_dim\": 1.0}")
                .replace("\"max_position_embeddings\": 4096", "\"max_position_embeddings\": 163840");
        String yarnT5 = OLMOE_HUB.replace("\"rope_theta\": 10000.0, \"rope_scaling\": null", "\"rope_parameters\": {\"rope_type\": \"yarn\", "
                + "\"rope_theta\": 10000.0, \"factor\": 40, \"original_max_position_embeddings\": 4096, \"beta_fast\": 32, \"beta_slow\": 1, "
                + "\"mscale\": 1.0, \"mscale_all_dim\": 1.0}").replace("\"max_position_embeddings\": 4096", "\"max_position_embeddings\": 163840");
        assertEquals(ModelConfig.read(config(yarnHub)).rope(), ModelConfig.read(config(yarnT5)).rope());
    }

    @Test
    void yarnKeepsHighFrequenciesAndInterpolatesLowOnes() {
        double theta = 10000;
        int dim = 64;
        RopeConfig plain = RopeConfig.defaults(theta, 4096);
        RopeConfig yarn = new RopeConfig("yarn", theta, 40, 4096, 32, 1, 0, 0, Double.NaN, true, 163840);
        float[] p = plain.invFreq(dim), y = yarn.invFreq(dim);
        for (int i = 0; i < dim / 2; i++) {
            assertEquals(1 / Math.pow(theta, 2.0 * i / dim), p[i], 1e-6 * p[i]);
        }
        assertEquals(p[0], y[0], 1e-7, "fastest rotation: extrapolated (unchanged)");
        assertEquals(p[dim / 2 - 1] / 40, y[dim / 2 - 1], 1e-6 * p[dim / 2 - 1], "slowest: interpolated by the factor");
        assertEquals(0.1 * Math.log(40) + 1, yarn.attentionScaling(), 1e-12, "no mscale keys: get_mscale(factor)");
        assertEquals(1.0, plain.attentionScaling());
        assertEquals(0.1 * 0.707 * Math.log(40) + 1, RopeConfig.yarnGetMscale(40, 0.707), 1e-12);
        assertEquals(1.0, RopeConfig.yarnGetMscale(1, 0.707));
    }

    @Test
    void errorsNameTheKey() throws IOException {
        String msg = assertThrows(IllegalArgumentException.class,
                () -> ModelConfig.read(config(OLMOE_HUB.replace("\"olmoe\"", "\"llama\"")))).getMessage();
        assertTrue(msg.contains("unknown model_type \"llama\""), msg);
        msg = assertThrows(IllegalArgumentException.class,
                () -> ModelConfig.read(config(OLMOE_HUB.replace("\"num_experts\": 64,", "")))).getMessage();
        assertTrue(msg.contains("missing key \"num_experts\"") && msg.contains("config.json"), msg);
        msg = assertThrows(IllegalArgumentException.class,
                () -> ModelConfig.read(config(OLMOE_HUB.replace("\"rope_theta\": 10000.0,", "")))).getMessage();
        assertTrue(msg.contains("missing key \"rope_theta\""), msg);
        msg = assertThrows(IllegalArgumentException.class,
                () -> ModelConfig.read(config(OLMOE_HUB.replace("\"hidden_size\": 2048", "\"hidden_size\": \"big\"")))).getMessage();
        assertTrue(msg.contains("\"hidden_size\" must be an integer"), msg);
        msg = assertThrows(IllegalArgumentException.class,
                () -> ModelConfig.read(config(OLMOE_HUB.replace("\"rope_scaling\": null", "\"rope_scaling\": {\"type\": \"longrope\"}")))).getMessage();
        assertTrue(msg.contains("rope_type \"longrope\" is not supported"), msg);
        msg = assertThrows(IllegalArgumentException.class, () -> ModelConfig.read(tmp)).getMessage();
        assertTrue(msg.contains("no config.json"), msg);
        msg = assertThrows(IllegalArgumentException.class,
                () -> ModelConfig.read(config(OLMOE_HUB.replace("\"num_experts_per_tok\": 8", "\"num_experts_per_tok\": 65")))).getMessage();
        assertTrue(msg.contains("num_experts_per_tok 65"), msg);
    }

    @Test
    void everySupportedModelTypeIsLoadable() {
        for (String arch : new String[] {"olmoe", "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3"}) {
            try (CausalLM model = Models.load(Shared.require("fixtures/hf/" + arch))) {
                assertTrue(model.config().modelType().equals(arch), arch);
            }
        }
    }
}
