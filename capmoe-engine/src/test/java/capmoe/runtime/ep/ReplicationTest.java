package capmoe.runtime.ep;

import capmoe.model.CausalLM;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.Routing;
import capmoe.runtime.LocalExpertExecutor;
import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static capmoe.model.SameMath.tokens;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Replication moves pairs between replicas and changes no bit: on HF fixtures, replicate@N and
 * replicate@N+POLICY through the expert-parallel runtime give the local executor's logits under
 * none and under POLICY, in both modes, and the devices' pair counts follow the replicas.
 */
class ReplicationTest {

    @Test
    void replicatedLogitsEqualTheUnreplicatedOnesBitForBit() throws Exception {
        int cells = 0;
        for (String fixture : List.of("olmoe", "mixtral", "qwen2_moe")) {
            try (CausalLM model = Models.load(Shared.require("fixtures/hf/" + fixture))) {
                int experts = model.config().numExperts(), vocab = model.config().vocabSize();
                int devices = Math.min(4, experts);
                int[][] batch = {tokens(17, vocab, 1), tokens(9, vocab, 2), tokens(12, vocab, 3)};
                Placement home = Placement.contiguous(experts, devices);
                for (String spec : List.of("replicate@2", "replicate@" + devices + "+score@1.0", "replicate@3+device@1.0")) {
                    Policy p = Policy.parse(spec);
                    Map<Integer, Placement> placements = Replication.place(model, p, home, List.<int[][]>of(batch));
                    assertTrue(placements.values().stream().allMatch(Placement::replicated), spec);
                    float[][] want = model.forward(batch, new RunOptions(p.capacityPolicy(), home, new LocalExpertExecutor(), null));
                    for (EpMode mode : EpMode.values()) {
                        Devices d = Devices.of(home);
                        List<int[]> pairs = new ArrayList<>();
                        List<Routing> routings = new ArrayList<>();
                        try (DeviceExpertExecutor ep = new DeviceExpertExecutor(d, mode, new CommModel(0, 2), dev -> EngineCores.share(1),
                                (routing, timing) -> {
                                    pairs.add(timing.devicePairs());
                                    routings.add(routing);
                                }, placements)) {
                            RunOptions options = new RunOptions(p, home, ep, null).withLayerPlacements(placements);
                            float[][] got = model.forward(batch, options);
                            String what = fixture + " " + spec + " " + mode.id();
                            if (!(p.capacityPolicy() instanceof Policy.DeviceCapacity)) {
                                for (int b = 0; b < batch.length; b++) assertArrayEquals(want[b], got[b], what + " sequence " + b);
                            }
                            for (int i = 0; i < pairs.size(); i++) {
                                assertArrayEquals(routings.get(i).stats().deviceLoadAfter(), pairs.get(i),
                                        what + ": the executor runs each pair where the router counted it");
                            }
                            cells++;
                        }
                    }
                }
            }
        }
        assertEquals(3 * 3 * EpMode.values().length, cells);
    }

    @Test
    void deviceCapacityWithReplicasMatchesTheLocalRunOnTheSamePlacement() throws Exception {
        try (CausalLM model = Models.load(Shared.require("fixtures/hf/olmoe"))) {
            int experts = model.config().numExperts(), vocab = model.config().vocabSize();
            int[][] batch = {tokens(21, vocab, 4), tokens(8, vocab, 5)};
            Placement home = Placement.contiguous(experts, 2);
            Policy p = Policy.parse("replicate@2+device@1.0");
            Map<Integer, Placement> placements = Replication.place(model, p, home, List.<int[][]>of(batch));
            RunOptions local = new RunOptions(p, home, new LocalExpertExecutor(), null).withLayerPlacements(placements);
            Devices d = Devices.of(home);
            try (DeviceExpertExecutor ep = new DeviceExpertExecutor(d, EpMode.TIMED_SERIAL, new CommModel(0, 2), dev -> EngineCores.share(1),
                    null, placements)) {
                float[][] want = model.forward(batch, local);
                float[][] got = model.forward(batch, local.withExecutor(ep));
                for (int b = 0; b < batch.length; b++) assertArrayEquals(want[b], got[b], "sequence " + b);
            }
        }
    }
}
