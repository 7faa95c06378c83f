package capmoe.runtime.ep;

import capmoe.kernels.DotMode;
import capmoe.model.CausalLM;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.runtime.LocalExpertExecutor;
import capmoe.testing.Shared;
import capmoe.weights.DType;
import capmoe.weights.LoadOptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.List;

import static capmoe.model.SameMath.tokens;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * {@link EpFixtureEqualityTest}'s guarantee with quantized weights ({@code --quantize q8_0|q4_0}):
 * the EP runtime (each device running its share of the experts through the grouped quantized
 * kernels, {@code QuantizedExperts}) gives the local executor's logits bit for bit, on the fixtures
 * whose expert matrices are all quantized (hidden and intermediate sizes multiples of 32), for
 * policies that keep every pair, drop pairs, and add local experts, at 2 and 4 devices in both modes;
 * in both numerics, {@code --dot exact} ({@code QuantMatMul}) and {@code --dot reduced}
 * ({@code QuantDot}'s native kernels, the activations as Q8_0 blocks in place of their floats).
 */
class QuantizedEpEqualityTest {

    private static final List<String> POLICIES = List.of("none", "score@1.0", "expanded_origin@1.5", "expert_drop@0.25");

    @ParameterizedTest
    @ValueSource(strings = {"olmoe", "qwen3_moe", "deepseek_v2"})
    void quantizedEpLogitsEqualLocalLogitsBitForBit(String arch) throws Exception {
        for (DType format : new DType[] {DType.Q8_0, DType.Q4_0}) for (DotMode dot : DotMode.values()) {
            assertEpEqualsLocal(arch, new LoadOptions(format, dot));
        }
    }

    /**
     * The fixture {@code arch} loaded with {@code options}: EP logits (every {@link EpMode}, 2 and 4
     * devices, {@link #POLICIES}) equal the local executor's bit for bit, three sequences of ragged lengths.
     */
    static void assertEpEqualsLocal(String arch, LoadOptions options) throws Exception {
        String what = arch + (options.quantize() == null ? "" : " " + options.quantize()) + " --dot " + options.dot();
        try (CausalLM model = Models.load(Shared.require("fixtures/hf/" + arch), null, options)) {
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
                                assertArrayEquals(want[b], got[b], what + " " + spec + " " + mode.id() + " D=" + devices + " sequence " + b);
                            }
                        }
                    }
                }
            }
        }
    }
}
