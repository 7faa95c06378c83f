package capmoe.cli;

import capmoe.runtime.mpi.MpiJob;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code ./capmoe} command line. Each subcommand lives in its own file. */
@Command(name = "capmoe", mixinStandardHelpOptions = true, version = "capmoe 0.1.0",
        description = "Capacity-aware Mixture-of-Experts inference: beat the straggler effect.",
        subcommands = {
                CommandLine.HelpCommand.class,
                DemoCommand.class,
                SyntheticCommand.class,
                RouteCommand.class,
                EpBenchCommand.class,
                SimulateCommand.class,
                InfoCommand.class,
                CheckCommand.class,
                GenerateCommand.class,
                LogitsCommand.class,
                BenchCommand.class,
                EvalCommand.class,
                ServeCommand.class,
                LoadgenCommand.class,
        })
public final class Main implements Runnable {

    /**
     * Runs the CLI; under {@code mpirun} as one rank of the job ({@link MpiJob#run}: same arguments
     * on every rank, rank 0 prints, a failing rank ends the job).
     */
    public static void main(String[] args) {
        System.exit(MpiJob.run(args, Main::runAsRank));
    }

    /** Commands that run over MPI ranks; under mpirun the others are refused (each rank would run the whole job). */
    static final java.util.Set<String> OVER_RANKS = java.util.Set.of("demo", "ep-bench", "eval", "generate");

    private static int runAsRank(String[] args) {
        var comm = MpiJob.current();
        String command = java.util.Arrays.stream(args).filter(a -> !a.startsWith("-")).findFirst().orElse("");
        if (comm.isEmpty() || OVER_RANKS.contains(command) || command.isEmpty() || command.equals("help")) {
            return run(args);
        }
        if (comm.get().rank() == 0) {
            System.err.println("capmoe rank 0: under mpirun only " + String.join(", ", new java.util.TreeSet<>(OVER_RANKS))
                    + " run over the ranks; run " + command + " without mpirun");
            System.err.flush();
        }
        comm.get().barrier(); // rank 0's line is out before any rank ends the job
        return 2;
    }

    /** Runs the CLI and returns the exit code (tests call this). */
    public static int run(String... args) {
        return new CommandLine(new Main())
                .setExecutionExceptionHandler(new CleanErrors())
                .execute(args);
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }
}
