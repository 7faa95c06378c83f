package capmoe.eval;

import capmoe.runtime.ep.CommModel;
import capmoe.runtime.ep.Devices;
import capmoe.runtime.ep.EngineCores;
import capmoe.runtime.ep.EpMode;
import capmoe.runtime.ep.EpReplay;

import java.util.List;

/**
 * How an evaluation times its MoE layers through the expert-parallel runtime, so the report can
 * give each policy's measured EP speedup on exactly the evaluated workload. The method is
 * {@link EpReplay}'s (the same as {@code ep-bench}'s): the evaluation records every MoE layer call
 * of every (task, policy), then replays each task's calls {@code repeats} times under all policies
 * back to back, the order rotated, so JIT warm-up and drift on a busy machine hit every policy
 * alike and the speedup does not depend on the order of {@code --policies}.
 *
 * @param threadsPerDevice cores per device ({@link EngineCores#defaultThreads})
 * @param repeats          measured replays of every call (the speedup is their median)
 * @param warmup           unmeasured replays before them
 * @param decodeSteps      greedy decode steps after each batch of windows, recorded and timed
 *                         apart from the scoring passes (prefill); 0 = none
 */
public record EpRuntime(Devices devices, EpMode mode, CommModel comm, int threadsPerDevice, int repeats, int warmup, int decodeSteps) {

    public EpRuntime {
        if (decodeSteps < 0) throw new IllegalArgumentException("--decode-steps must be >= 0 (got " + decodeSteps + ")");
        if (repeats < 1) throw new IllegalArgumentException("--repeats must be >= 1 (got " + repeats + ")");
        if (warmup < 0) throw new IllegalArgumentException("replay warm-up must be >= 0 (got " + warmup + ")");
        if (threadsPerDevice < 1) throw new IllegalArgumentException("threads per device must be >= 1 (got " + threadsPerDevice + ")");
    }

    /** Replays the policies' recorded calls of one task (the baseline first): their timings. */
    List<EpReplay.Timings> time(List<List<EpReplay.Call>> perPolicy, EpReplay.Progress progress) {
        return EpReplay.time(perPolicy, devices, mode, comm, d -> EngineCores.share(threadsPerDevice), repeats, warmup, progress);
    }
}
