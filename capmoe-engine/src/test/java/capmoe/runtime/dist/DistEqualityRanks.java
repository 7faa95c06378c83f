package capmoe.runtime.dist;

import capmoe.model.CausalLM;
import capmoe.model.Generator;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.runtime.mpi.MpiCommunicator;
import capmoe.runtime.mpi.MpiLaunch;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * The rank program of {@link DistributedMpiTest}, run by every rank of one mpirun job: for every
 * checkpoint under the directory given as argument and every policy, the multi-process run
 * (data-parallel attention + expert-parallel MoE over MPI) against one process computing the
 * whole global batch. Rank 0 computes the single-process side and compares; every rank prints
 * its resident weight bytes; rank 0 ends with one summary line
 * {@code dist-equality: N cases, F failures} and every rank exits 1 when F > 0. Along the way
 * the ranks gather their {@link MoeTiming}s (one per layer call and rank, measured; rows
 * sent = rows received over all ranks), and rank 0 counts the capacity-policy cells where local scope
 * changed the logits ({@code scope-differs:}), so a local run that silently used global
 * capacity would show.
 * <ol>
 *   <li>global scope: logits == the plain single-process run (placement over D devices; for
 *       expanded_origin, each token's origin device = its rank), bit for bit;</li>
 *   <li>local scope: logits == one process routing each rank's tokens apart ({@link SplitRouter}), bit for bit;</li>
 *   <li>bf16 rows on the wire ({@link Wire#BF16}, global scope): logits == one process rounding at
 *       the same two points ({@link Bf16WireReference}), bit for bit; rank 0 prints the largest
 *       difference from the fp32 wire relative to max|logit| ({@code bf16-wire:});</li>
 *   <li>decode with the KV cache: greedy tokens == single-process greedy generation ({@link Generator}
 *       per prompt under {@code none}; one batched session under a capacity policy, whose
 *       capacity depends on the batch).</li>
 * </ol>
 * The global batch has D+1 sequences of different lengths, so ranks hold different token counts
 * (with D = 4, rank 0 holds none: a rank without tokens still joins every exchange).
 */
public final class DistEqualityRanks {
    static final List<String> POLICIES = List.of("none", "score@1.0", "order@1.0", "random@1.0", "expanded@1.5",
            "expanded_origin@1.5", "device@1.0");
    static final List<String> DECODE_POLICIES = List.of("none", "score@1.0", "expanded_origin@1.5");
    static final List<String> BF16_POLICIES = List.of("none", "score@1.0", "expanded_origin@1.5");
    static final int NEW_TOKENS = 4;

    public static void main(String[] args) throws Exception {
        MpiLaunch launch = MpiLaunch.detect().orElseThrow(() -> new IllegalStateException("not started by mpirun"));
        int cases = 0, scopeDiffers = 0;
        double bf16Error = 0; // max over cells of max|bf16-wire logit - fp32-wire logit| / max|fp32-wire logit|
        List<String> failures = new ArrayList<>();
        try (MpiCommunicator comm = MpiCommunicator.open(launch)) {
            int rank = comm.rank(), d = comm.size();
            List<Path> dirs;
            try (Stream<Path> s = Files.list(Path.of(args[0]))) {
                dirs = s.filter(Files::isDirectory).sorted().toList();
            }
            for (Path dir : dirs) {
                String name = dir.getFileName().toString();
                try (CausalLM model = Models.load(dir)) {
                    int experts = model.config().numExperts(), vocab = model.config().vocabSize();
                    int[][] batch = new int[d + 1][];
                    SplittableRandom rnd = new SplittableRandom(name.hashCode());
                    for (int b = 0; b < batch.length; b++) batch[b] = tokens(3 + 2 * b + rnd.nextInt(4), vocab, rnd);
                    Placement placement = Placement.contiguous(experts, d);
                    long resident = DataParallelLM.residentWeightBytes(
                            ((capmoe.model.Decoder) model).checkpoint().tensors(), placement, rank);
                    System.out.println("resident " + name + " rank " + rank + ": " + resident + " bytes");
                    for (String spec : POLICIES) {
                        Policy policy = Policy.parse(spec);
                        float[][] global = null;
                        for (CapacityScope scope : CapacityScope.values()) {
                            List<MoeTiming> timings = new ArrayList<>();
                            DataParallelLM dp = new DataParallelLM(model, comm, scope, timings::add);
                            float[][] got = dp.forward(batch, RunOptions.of(policy));
                            checkTimings(comm, name + " " + spec + " " + scope.label(), timings, failures);
                            if (scope == CapacityScope.GLOBAL) {
                                global = got;
                            } else if (!(policy instanceof Policy.None) && !Arrays.deepEquals(global, got)) {
                                scopeDiffers++;
                            }
                            if (rank == 0) {
                                RunOptions one = scope == CapacityScope.GLOBAL && !spec.startsWith("expanded_origin")
                                        ? RunOptions.of(policy).withPlacement(placement)
                                        : DataParallelLM.referenceOptions(policy, experts, d, scope);
                                float[][] want = model.forward(batch, one);
                                cases++;
                                check(name + " " + spec + " " + scope.label() + " D=" + d, want, got, failures);
                            }
                        }
                    }
                    for (String spec : BF16_POLICIES) {
                        Policy policy = Policy.parse(spec);
                        float[][] fp32 = new DataParallelLM(model, comm, CapacityScope.GLOBAL, null).forward(batch, RunOptions.of(policy));
                        float[][] got = new DataParallelLM(model, comm, CapacityScope.GLOBAL, Wire.BF16, null)
                                .forward(batch, RunOptions.of(policy));
                        if (rank == 0) {
                            RunOptions one = (spec.startsWith("expanded_origin")
                                    ? DataParallelLM.referenceOptions(policy, experts, d, CapacityScope.GLOBAL)
                                    : RunOptions.of(policy).withPlacement(placement)).withExecutor(new Bf16WireReference());
                            cases++;
                            check(name + " " + spec + " bf16 wire D=" + d, model.forward(batch, one), got, failures);
                            bf16Error = Math.max(bf16Error, relativeError(fp32, got));
                        }
                    }
                    for (String spec : DECODE_POLICIES) {
                        Policy policy = Policy.parse(spec);
                        DataParallelLM dp = new DataParallelLM(model, comm, CapacityScope.GLOBAL, null);
                        int[][] got = dp.greedy(batch, NEW_TOKENS, RunOptions.of(policy));
                        if (rank == 0) {
                            int[][] want = spec.equals("none")
                                    ? generateEach(model, batch)
                                    : Generator.greedyBatch(model.newSession(batch.length, DataParallelLM.referenceOptions(
                                            policy, experts, d, CapacityScope.GLOBAL)), batch, NEW_TOKENS);
                            cases++;
                            String what = name + " decode " + spec + " D=" + d;
                            if (!Arrays.deepEquals(want, got)) {
                                failures.add(what + ": MPI " + Arrays.deepToString(got) + " vs one process " + Arrays.deepToString(want));
                            }
                        }
                    }
                }
            }
            if (rank == 0) {
                failures.forEach(f -> System.out.println("FAIL " + f));
                System.out.println("scope-differs: local != global logits in " + scopeDiffers + " of "
                        + dirs.size() * (POLICIES.size() - 1) + " capacity-policy cells");
                // one write per line: mpirun tags every chunk it reads, so a line written in pieces gets a tag inside it
                System.out.println(String.format(java.util.Locale.ROOT, "bf16-wire: max |logit - fp32-wire logit| / max |fp32-wire "
                        + "logit| = %.2e over %d fixtures x %s", bf16Error, dirs.size(), BF16_POLICIES));
                System.out.println("dist-equality: " + cases + " cases, " + failures.size() + " failures");
            }
            int[] failed = new int[d];
            comm.allgather(failures.size(), failed);
            comm.barrier();
            if (Arrays.stream(failed).sum() > 0) {
                comm.close();
                System.exit(1);
            }
        }
    }

    /**
     * Each rank's timings: one per MoE layer call, every time ≥ 0; over all ranks, the rows
     * sent equal the rows the experts received, call by call.
     */
    private static void checkTimings(MpiCommunicator comm, String what, List<MoeTiming> timings, List<String> failures) {
        List<List<MoeTiming>> calls = MoeTiming.gather(comm, timings);
        for (int i = 0; i < calls.size(); i++) {
            List<MoeTiming> call = calls.get(i);
            int sent = 0, received = 0;
            if (!call.get(comm.rank()).equals(timings.get(i))) failures.add(what + ": gathered " + call.get(comm.rank()) + " != own " + timings.get(i));
            for (int q = 0; q < call.size(); q++) {
                MoeTiming t = call.get(q);
                if (t.rank() != q || t.layer() != call.getFirst().layer()) {
                    failures.add(what + ": gathered timing out of place " + t);
                }
                if (t.routerNs() < 0 || t.dispatchNs() <= 0 || t.expertNs() < 0 || t.waitNs() <= 0 || t.combineNs() <= 0) {
                    failures.add(what + ": timing not measured " + t);
                }
                sent += t.pairsSent();
                received += t.rowsReceived();
            }
            if (sent != received) failures.add(what + ": rows sent " + sent + " but received " + received + " in " + call);
        }
    }

    private static void check(String what, float[][] want, float[][] got, List<String> failures) {
        for (int b = 0; b < want.length; b++) {
            for (int i = 0; i < want[b].length; i++) {
                if (Float.floatToRawIntBits(want[b][i]) != Float.floatToRawIntBits(got[b][i])) {
                    failures.add(what + ": sequence " + b + " logit " + i + " MPI " + got[b][i] + " vs one process " + want[b][i]);
                    return;
                }
            }
        }
    }

    private static double relativeError(float[][] want, float[][] got) {
        double diff = 0, max = 0;
        for (int b = 0; b < want.length; b++) {
            for (int i = 0; i < want[b].length; i++) {
                diff = Math.max(diff, Math.abs(want[b][i] - got[b][i]));
                max = Math.max(max, Math.abs(want[b][i]));
            }
        }
        return max == 0 ? diff : diff / max;
    }

    /** Single-process greedy generation, one prompt at a time (the plain path, {@link Generator}). */
    private static int[][] generateEach(CausalLM model, int[][] prompts) {
        int[][] out = new int[prompts.length][];
        for (int b = 0; b < prompts.length; b++) {
            out[b] = Generator.generate(model, prompts[b], Generator.Settings.greedy(NEW_TOKENS), RunOptions.defaults(), t -> { });
        }
        return out;
    }

    private static int[] tokens(int n, int vocab, SplittableRandom rnd) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rnd.nextInt(vocab);
        return t;
    }
}
