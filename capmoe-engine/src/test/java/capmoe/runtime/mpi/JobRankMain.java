package capmoe.runtime.mpi;

import capmoe.runtime.dist.Communicator;

import java.util.Arrays;

/**
 * One rank of {@link MpiJobTest}: runs a small command through {@link MpiJob#run}. The command
 * prints {@code result from rank R} on stdout and {@code note from rank R} on stderr, after a
 * barrier. Modes: {@code ok}; {@code fail R} (rank R's command returns exit code 3 after printing
 * {@code capmoe rank R: cannot open weights ...}); {@code throw R} (rank R's command throws);
 * {@code differ R} (rank R is given one more argument than the others).
 */
public final class JobRankMain {

    public static void main(String[] args) {
        int rank = MpiLaunch.detect().orElseThrow().rank();
        String[] own = args[0].equals("differ") && rank == Integer.parseInt(args[1])
                ? Arrays.copyOf(args, args.length + 1) : args;
        if (own.length > args.length) {
            own[args.length] = "--extra";
        }
        System.exit(MpiJob.run(own, JobRankMain::command));
    }

    private static int command(String[] args) {
        Communicator comm = MpiJob.current().orElseThrow();
        comm.barrier();
        int rank = comm.rank();
        if (args.length > 1 && rank == Integer.parseInt(args[1])) {
            switch (args[0]) {
                case "fail" -> {
                    System.err.println("capmoe " + MpiJob.label() + "generate: error: cannot open weights /nonexistent");
                    return 3;
                }
                case "throw" -> throw new IllegalStateException("expert 7 of layer 2 is missing");
                default -> { }
            }
        }
        System.out.println("result from rank " + rank);
        System.err.println("note from rank " + rank);
        comm.barrier();
        return 0;
    }
}
