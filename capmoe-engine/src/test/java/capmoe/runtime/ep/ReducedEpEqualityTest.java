package capmoe.runtime.ep;

import capmoe.kernels.DotMode;
import capmoe.model.CausalLM;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.runtime.LocalExpertExecutor;
import capmoe.testing.Shared;
import capmoe.weights.LoadOptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static capmoe.model.SameMath.tokens;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * {@link EpFixtureEqualityTest}'s guarantee in {@code --dot reduced} (BF16 weights through the
 * native vdpbf16ps kernels, {@code capmoe.kernels.ReducedMatMul}): the EP runtime, each device
 * running its share of the experts in batches of its own, gives the local executor's logits bit
 * for bit, for policies that keep every pair, drop pairs, and add local experts, at 2 and 4
 * devices in both modes.
 */
class ReducedEpEqualityTest {

    private static final List<String> POLICIES = List.of("none", "score@1.0", "expanded_origin@1.5", "expert_drop@0.25");

    @ParameterizedTest
    @ValueSource(strings = {"olmoe", "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3"})
    void reducedEpLogitsEqualLocalLogitsBitForBit(String arch) throws Exception {
        try (CausalLM model = Models.load(Shared.require("fixtures/hf/" + arch), null, LoadOptions.DEFAULT.withDot(DotMode.REDUCED))) {
            int experts = model.config().numExperts(), vocab = model.config().vocabSize();
            int[][] batch = {tokens(11, vocab, 1), tokens(6, vocab, 2), tokens(9, vocab, 3)};
            for (int devices : new int[] {2, 4}) {
                Placement placement = Devices.contiguous(experts, devices).placement();
                for (String spec : POLICIES) {
                    RunOptions local = new RunOptions(Policy.parse(spec), placement, new LocalExpertExecutor(), null);
                    for (EpMode mode : EpMode.values()) {
                        Devices d = Devices.of(placement);
                        try (DeviceExpertExecutor ep = new DeviceExpertExecutor(d, mode, new CommModel(100, 2),
                                dev -> EngineCores.share(1), new EpStats(d))) {
                            float[][] want = model.forward(batch, local);
                            float[][] got = model.forward(batch, local.withExecutor(ep));
                            for (int b = 0; b < batch.length; b++) {
                                assertArrayEquals(want[b], got[b], arch + " --dot reduced " + spec + " " + mode.id() + " D=" + devices + " sequence " + b);
                            }
                        }
                    }
                }
            }
        }
    }
}
