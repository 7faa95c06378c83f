package capmoe.eval;

import capmoe.routing.Placement;
import capmoe.runtime.dist.Communicator;
import capmoe.runtime.dist.RankReplay;
import capmoe.runtime.dist.Wire;
import capmoe.runtime.ep.CommModel;
import capmoe.runtime.ep.Devices;
import capmoe.runtime.ep.EngineCores;
import capmoe.runtime.ep.EpMode;
import capmoe.runtime.ep.EpReplay;

import java.util.List;
import java.util.Locale;

/**
 * How an evaluation times its MoE layers under expert parallelism, so the report can give each
 * policy's measured EP speedup on exactly the evaluated workload. The method is {@link EpReplay}'s
 * (the same as {@code ep-bench}'s): the evaluation records every MoE layer call of every (task,
 * policy), then replays each task's calls {@code repeats} times under all policies back to back,
 * the order rotated, so JIT warm-up and drift on a busy machine hit every policy alike and the
 * speedup does not depend on the order of {@code --policies}. Two places to replay them:
 * {@link InJvm} (devices inside this process) and {@link OverRanks} (the ranks of an MPI job).
 */
public sealed interface EpRuntime {

    /** Replays the policies' recorded calls of one task (the baseline first): their timings. */
    List<EpReplay.Timings> time(List<List<EpReplay.Call>> perPolicy, EpReplay.Progress progress);

    /** Where the calls are replayed, for progress lines and reports (e.g. "timed-serial, 8 devices"). */
    String describe();

    /** Unmeasured replays before the measured ones. */
    int warmup();

    /**
     * In-JVM devices ({@code capmoe.runtime.ep}).
     *
     * @param threadsPerDevice cores per device ({@link EngineCores#defaultThreads})
     * @param repeats          measured replays of every call (the speedup is their median)
     * @param warmup           unmeasured replays before them
     */
    record InJvm(Devices devices, EpMode mode, CommModel comm, int threadsPerDevice, int repeats, int warmup) implements EpRuntime {

        public InJvm {
            check(repeats, warmup);
            if (threadsPerDevice < 1) throw new IllegalArgumentException("threads per device must be >= 1 (got " + threadsPerDevice + ")");
        }

        @Override
        public List<EpReplay.Timings> time(List<List<EpReplay.Call>> perPolicy, EpReplay.Progress progress) {
            return EpReplay.time(perPolicy, devices, mode, comm, d -> EngineCores.share(threadsPerDevice), repeats, warmup, progress);
        }

        @Override
        public String describe() { return String.format(Locale.ROOT, "%s, %d devices", mode.id(), devices.count()); }
    }

    /**
     * The ranks of an MPI job ({@link RankReplay}: dispatch, experts, wait and combine over the
     * real processes, measured). Collective: every rank replays, every rank gets the timings.
     *
     * @param placement the ranks' expert placement
     * @param wire      how hidden rows travel (as in the recorded run)
     */
    record OverRanks(Communicator comm, Placement placement, Wire wire, int repeats, int warmup) implements EpRuntime {

        public OverRanks {
            check(repeats, warmup);
        }

        @Override
        public List<EpReplay.Timings> time(List<List<EpReplay.Call>> perPolicy, EpReplay.Progress progress) {
            return RankReplay.time(perPolicy, comm, placement, wire, repeats, warmup, progress);
        }

        @Override
        public String describe() { return comm.size() + " MPI ranks, " + wire.label() + " rows"; }
    }

    private static void check(int repeats, int warmup) {
        if (repeats < 1) throw new IllegalArgumentException("--repeats must be >= 1 (got " + repeats + ")");
        if (warmup < 0) throw new IllegalArgumentException("replay warm-up must be >= 0 (got " + warmup + ")");
    }
}
