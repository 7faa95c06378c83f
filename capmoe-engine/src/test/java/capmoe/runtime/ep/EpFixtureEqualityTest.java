package capmoe.runtime.ep;

import capmoe.model.CausalLM;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.runtime.LocalExpertExecutor;
import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static capmoe.model.SameMath.tokens;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Expert parallelism changes where experts run, never what the model computes: on every HF
 * fixture the engine loads, for every policy, the EP runtime's logits equal the local executor's
 * bit for bit (same placement, so device-aware policies see the same devices), in both modes.
 *
 * <p>This holds in the normal JVM, while the JIT recompiles the kernels between the two runs,
 * because every kernel rounds the same in every tier: lane sums and exp go through
 * {@code capmoe.routing.VectorMath} (fixed order, plain IEEE operations) rather than the Vector
 * API's {@code reduceLanes(ADD)} and {@code EXP}, whose rounding depends on whether C2 compiled
 * them. The loop below runs hundreds of forward passes, so it crosses those recompilations.
 */
class EpFixtureEqualityTest {

    static final List<String> POLICIES = List.of("none", "score@1.0", "order@1.0", "reverse@1.5", "random@1.0",
            "expanded@1.5", "expanded_origin@1.5", "device@1.0", "expert_drop@0.25");

    @Test
    void epLogitsEqualLocalLogitsBitForBitForEveryPolicyOnEveryFixture() throws Exception {
        System.out.println(compare(POLICIES, new int[]{2, 4}));
    }

    /** The same forward pass, repeated while the JIT works, gives the same bits every time. */
    @Test
    void aForwardPassIsReproducibleAcrossJitTiers() throws Exception {
        try (CausalLM model = Models.load(Shared.require("fixtures/hf/olmoe"))) {
            int vocab = model.config().vocabSize();
            int[][] batch = {tokens(13, vocab, 4), tokens(5, vocab, 5)};
            RunOptions options = RunOptions.of(Policy.parse("random@1.0"));
            float[][] first = model.forward(batch, options);
            for (int i = 0; i < 200; i++) {
                float[][] again = model.forward(batch, options);
                for (int b = 0; b < batch.length; b++) assertArrayEquals(first[b], again[b], "pass " + i + " sequence " + b);
            }
        }
    }

    /**
     * Compares EP and local logits bit for bit on every fixture the engine loads; returns a
     * one-line summary.
     */
    static String compare(List<String> policies, int[] deviceCounts) throws Exception {
        Path hf = Shared.require("fixtures/hf");
        List<String> compared = new ArrayList<>();
        List<String> unsupported = new ArrayList<>();
        int cells = 0;
        List<Path> dirs;
        try (Stream<Path> s = Files.list(hf)) {
            dirs = s.filter(Files::isDirectory).sorted().toList();
        }
        for (Path dir : dirs) {
            CausalLM model;
            try {
                model = Models.load(dir);
            } catch (IllegalArgumentException e) {
                // the engine names the architectures it does not run yet; anything else is a failure
                assertTrue(e.getMessage().contains("not yet supported"), dir + ": " + e.getMessage());
                unsupported.add(dir.getFileName().toString());
                continue;
            }
            try (model) {
                int experts = model.config().numExperts();
                int vocab = model.config().vocabSize();
                int[][] batch = {tokens(11, vocab, 1), tokens(6, vocab, 2), tokens(9, vocab, 3)};
                for (int devices : deviceCounts) {
                    Placement placement = Devices.contiguous(experts, Math.min(devices, experts)).placement();
                    for (String spec : policies) {
                        RunOptions local = new RunOptions(Policy.parse(spec), placement, new LocalExpertExecutor(), null);
                        for (EpMode mode : EpMode.values()) {
                            Devices d = Devices.of(placement);
                            try (DeviceExpertExecutor ep = new DeviceExpertExecutor(d, mode, new CommModel(100, 2),
                                    dev -> EngineCores.share(1), new EpStats(d))) {
                                String what = dir.getFileName() + " " + spec + " " + mode.id() + " D=" + d.count();
                                float[][] want = model.forward(batch, local);
                                float[][] got = model.forward(batch, local.withExecutor(ep));
                                cells++;
                                for (int b = 0; b < batch.length; b++) assertArrayEquals(want[b], got[b], what + " sequence " + b);
                            }
                        }
                    }
                }
                compared.add(dir.getFileName().toString());
            }
        }
        assertTrue(compared.containsAll(List.of("mixtral", "olmoe", "qwen2_moe", "qwen3_moe")), "compared " + compared);
        assertEquals(dirs.size(), compared.size() + unsupported.size());
        return "EP == local bit for bit in all " + cells + " cells on " + compared + "; not loadable by the engine yet: " + unsupported;
    }

}
