package capmoe.cli;

import capmoe.runtime.dist.CapacityScope;
import capmoe.runtime.dist.Wire;
import picocli.CommandLine.Option;

/** Options of the multi-process runtime (used when the command runs under {@code mpirun}). */
final class RanksOption {

    @Option(names = "--capacity-scope", paramLabel = "global|local",
            description = "under mpirun: capacity over the whole global batch (global, the paper's semantics) or each rank's "
                    + "own tokens (local, C = ceil(γ·k·T_rank/E)) (default: ${DEFAULT-VALUE})")
    String capacityScope = "global";

    @Option(names = "--wire", paramLabel = "fp32|bf16",
            description = "under mpirun: how hidden rows travel in the MoE all-to-alls: fp32 (bit-identical to one process) or "
                    + "bf16 (half the bytes; rows rounded to bfloat16 before the experts and expert outputs before the "
                    + "combine) (default: ${DEFAULT-VALUE})")
    String wire = "fp32";

    Wire wire() {
        return Wire.parse(wire);
    }

    /**
     * Refuses {@code --capacity-scope} and {@code --wire} outside {@code mpirun}: in one process
     * there are no ranks for them to apply to (one line naming the option and the command).
     */
    static void requireMpirun(picocli.CommandLine.Model.CommandSpec spec, boolean underMpirun) {
        for (String ranked : java.util.List.of("--capacity-scope", "--wire")) {
            if (!underMpirun && spec.commandLine().getParseResult().hasMatchedOption(ranked)) {
                throw new IllegalArgumentException(ranked + " applies to a run under mpirun (mpirun -np D ./capmoe " + spec.name()
                        + " ...)");
            }
        }
    }

    CapacityScope scope() {
        return CapacityScope.parse(capacityScope);
    }
}
