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
        System.exit(MpiJob.run(args, Main::run));
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
