package capmoe.runtime.ep;

import capmoe.kernels.DotMode;
import capmoe.weights.LoadOptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link EpFixtureEqualityTest}'s guarantee in {@code --dot reduced} (BF16 weights through the
 * native vdpbf16ps kernels, {@code capmoe.kernels.ReducedMatMul}): the EP runtime, each device
 * running its share of the experts in batches of its own, gives the local executor's logits bit
 * for bit, for policies that keep every pair, drop pairs, and add local experts, at 2 and 4
 * devices in both modes ({@link QuantizedEpEqualityTest#assertEpEqualsLocal}).
 */
class ReducedEpEqualityTest {

    @ParameterizedTest
    @ValueSource(strings = {"olmoe", "mixtral", "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3"})
    void reducedEpLogitsEqualLocalLogitsBitForBit(String arch) throws Exception {
        QuantizedEpEqualityTest.assertEpEqualsLocal(arch, LoadOptions.DEFAULT.withDot(DotMode.REDUCED));
    }
}
