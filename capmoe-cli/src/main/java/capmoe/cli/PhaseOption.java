package capmoe.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * The load-balancing options shared by {@code ep-bench}, {@code eval --ep} and {@code demo} (a
 * picocli mixin): how many greedy decode steps follow each batch, recorded and timed apart from
 * the batch's own pass (prefill and decode apart in every report), and where replicated policies
 * ({@code replicate@N[+POLICY]}) take their EPLB placement from.
 */
final class PhaseOption {

    @Option(names = "--decode-steps", description = "greedy decode steps after each batch (ep-bench: its prefill; eval --ep and "
            + "demo: each batch of windows, not scored), recorded and timed apart from it; 0 = none (default: ${DEFAULT-VALUE})")
    int decodeSteps = 8;

    @Option(names = "--replicate-trace", paramLabel = "FILE",
            description = "replicate@N[+POLICY] policies: place the replicas (EPLB) from this routing trace (recorded under none, "
                    + "ep-bench --trace) instead of from the run's own routing (ep-bench: its warm-up batches; eval and demo: "
                    + "none's routing of the evaluation, in-sample)")
    Path replicateTrace;
}
