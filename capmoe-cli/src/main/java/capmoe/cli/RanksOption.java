package capmoe.cli;

import capmoe.runtime.dist.CapacityScope;
import picocli.CommandLine.Option;

/** Options of the multi-process runtime (used when the command runs under {@code mpirun}). */
final class RanksOption {

    @Option(names = "--capacity-scope", paramLabel = "global|local",
            description = "under mpirun: capacity over the whole global batch (global, the paper's semantics) or each rank's "
                    + "own tokens (local, C = ceil(γ·k·T_rank/E)) (default: ${DEFAULT-VALUE})")
    String capacityScope = "global";

    CapacityScope scope() {
        return CapacityScope.parse(capacityScope);
    }
}
