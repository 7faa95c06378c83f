package capmoe.model;

import capmoe.routing.Policy;
import capmoe.routing.Routing;
import capmoe.routing.Scorer;
import capmoe.runtime.ExpertExecutor;
import capmoe.runtime.LocalExpertExecutor;
import capmoe.testing.Shared;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static capmoe.model.SameMath.relativeError;
import static capmoe.model.SameMath.tokens;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every MoE layer of every architecture routes through the run's policy and executor: the
 * capacity bound holds at each layer, dropping changes the logits, and a capacity no expert
 * reaches changes nothing (1e-5 of max|logit|: only fp32 summation order may differ).
 */
class EveryMoeLayerTest {

    @ParameterizedTest(name = "{0}: MoE layers {1}")
    @CsvSource(delimiter = ';', value = {
            "olmoe; 0 1", "mixtral; 0 1", "qwen2_moe; 0 1", "qwen3_moe; 0 1",
            "deepseek_v2; 1 2",  // first_k_dense_replace = 1: layer 0 is a dense MLP
            "deepseek_v3; 1 2"})
    void everyMoeLayerRoutesThroughThePolicyAndTheExecutor(String arch, String moeLayers) {
        try (CausalLM model = Models.load(Shared.require("fixtures/hf/" + arch))) {
            int experts = model.config().numExperts(), k = model.config().topK();
            int[][] batch = {tokens(24, 384, 5), tokens(24, 384, 6)};
            List<Routing> seen = new ArrayList<>();
            List<Integer> executed = new ArrayList<>();
            LocalExpertExecutor local = new LocalExpertExecutor();
            ExpertExecutor counting = (layer, ex, x, routing, out) -> {
                executed.add(layer);
                local.run(layer, ex, x, routing, out);
            };
            RunOptions drop = RunOptions.of(new Policy.TokenDrop(Scorer.SCORE, 0.5, 0))
                    .withExecutor(counting).withListener((layer, r) -> seen.add(r));
            float[][] dropped = model.forward(batch, drop);

            List<Integer> expected = Arrays.stream(moeLayers.split(" ")).map(Integer::valueOf).toList();
            assertEquals(expected, executed, "the MoE layers ran through the given executor, in order");
            assertEquals(expected.size(), seen.size(), "the listener saw each MoE layer's routing");
            for (Routing r : seen) {
                assertEquals(48, r.tokens(), "both sequences route together");
                int c = r.stats().capacity();
                assertEquals((int) Math.ceil(0.5 * k * 48 / experts), c, "C = ceil(gamma k T / E) over the whole batch");
                for (int load : r.stats().loadAfter()) assertTrue(load <= c, "no expert above capacity");
                assertTrue(r.keptPairs() < k * 48, "gamma 0.5 drops pairs");
            }
            float[][] none = model.forward(batch, RunOptions.defaults());
            assertTrue(relativeError(none[0], dropped[0]) > 1e-3, "dropping tokens changes the logits");
            float[][] generous = model.forward(batch, RunOptions.of(new Policy.TokenDrop(Scorer.SCORE, 16, 0)));
            for (int b = 0; b < batch.length; b++) {
                assertTrue(relativeError(none[b], generous[b]) <= 1e-5, "a capacity no expert reaches changes nothing, sequence " + b);
            }
        }
    }

}
