package capmoe.runtime.mpi;

import java.util.Map;
import java.util.Optional;

/**
 * How this process was started when an MPI launcher started it: its rank and the job's size as
 * the launcher's environment gives them, read before {@code MPI_Init} so that a process started
 * without a launcher never touches Open MPI (an {@code MPI_Init} without {@code mpirun} would
 * start a singleton runtime; capmoe keeps its in-JVM devices instead).
 *
 * <p>Open MPI's {@code mpirun} sets {@code OMPI_COMM_WORLD_RANK} / {@code OMPI_COMM_WORLD_SIZE};
 * a PMIx launcher such as {@code srun --mpi=pmix} sets {@code PMIX_RANK} (size then comes from
 * {@code SLURM_NTASKS}, or from {@code MPI_Comm_size} once initialised: {@code size == 0}).
 *
 * @param rank     this process's rank in {@code MPI_COMM_WORLD}
 * @param size     number of ranks, or 0 when the launcher does not say before {@code MPI_Init}
 * @param launcher the environment variable the rank came from
 */
public record MpiLaunch(int rank, int size, String launcher) {

    /** The launch this process's environment describes, if an MPI launcher started it. */
    public static Optional<MpiLaunch> detect() {
        return detect(System.getenv());
    }

    /** As {@link #detect()} over the given environment. */
    public static Optional<MpiLaunch> detect(Map<String, String> env) {
        String ompiRank = env.get("OMPI_COMM_WORLD_RANK");
        if (ompiRank != null) {
            return Optional.of(new MpiLaunch(number(env, "OMPI_COMM_WORLD_RANK"),
                    env.containsKey("OMPI_COMM_WORLD_SIZE") ? number(env, "OMPI_COMM_WORLD_SIZE") : 0,
                    "OMPI_COMM_WORLD_RANK"));
        }
        if (env.get("PMIX_RANK") != null) {
            return Optional.of(new MpiLaunch(number(env, "PMIX_RANK"),
                    env.containsKey("SLURM_NTASKS") ? number(env, "SLURM_NTASKS") : 0, "PMIX_RANK"));
        }
        return Optional.empty();
    }

    private static int number(Map<String, String> env, String name) {
        String value = env.get(name);
        try {
            return Integer.parseInt(value.trim());
        } catch (NumberFormatException e) {
            throw new MpiException("environment variable " + name + "='" + value + "' is not a rank number");
        }
    }
}
