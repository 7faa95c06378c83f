package capmoe.runtime.mpi;

import capmoe.runtime.dist.Communicator;

import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.function.ToIntFunction;
import java.util.zip.CRC32;

/**
 * This process as one rank of an MPI job, for a command line that every rank runs the same
 * ({@code mpirun -np 4 ./capmoe ep-bench ...}). {@link #run} wraps the CLI's entry point:
 * <ol>
 *   <li>no MPI launcher in the environment ({@link MpiLaunch#detect()}): runs the command as
 *       always, in one process (in-JVM devices), and {@link #current()} stays empty;</li>
 *   <li>otherwise opens {@code MPI_COMM_WORLD} ({@link MpiCommunicator#open});</li>
 *   <li>checks that every rank got the same arguments (an allgather of their CRC-32): ranks
 *       started with different command lines would run different collectives and hang; rank 0
 *       ends the job with one line naming the first rank that differs;</li>
 *   <li>on ranks other than 0 discards standard output: rank 0 prints the results, every rank
 *       keeps standard error for its own failure;</li>
 *   <li>runs the command; a rank whose command fails (non-zero exit code, or an exception that
 *       escaped it) ends the whole job through {@code MPI_Abort} with that code, so no rank is
 *       left waiting in a collective for it; the failing rank's line, which names the rank
 *       ({@link #label()}), is the job's message;</li>
 *   <li>after a successful command, {@code MPI_Finalize} on every rank.</li>
 * </ol>
 * A rank killed from outside (kill -9, out of memory) is Open MPI's to notice: {@code mpirun}
 * prints "process rank R ... exited on signal 9" and kills the others.
 */
public final class MpiJob {

    private static volatile MpiCommunicator current;

    private MpiJob() {
    }

    /** The job's communicator when {@code mpirun} started this process and {@link #run} opened it. */
    public static Optional<Communicator> current() {
        return Optional.ofNullable(current);
    }

    /** {@code "rank R "} when this process is a rank of an MPI job, else {@code ""}: for error lines. */
    public static String label() {
        MpiCommunicator c = current;
        return c == null ? "" : "rank " + c.rank() + " ";
    }

    /** Runs {@code command(args)} as described in the class comment; returns the exit code. */
    public static int run(String[] args, ToIntFunction<String[]> command) {
        Optional<MpiLaunch> launch = MpiLaunch.detect();
        if (launch.isEmpty()) {
            return command.applyAsInt(args);
        }
        MpiCommunicator comm;
        try {
            comm = MpiCommunicator.open(launch.get());
        } catch (MpiException e) {
            System.err.println("capmoe rank " + launch.get().rank() + ": " + e.getMessage());
            return 2; // without MPI there is no abort; mpirun ends the job when a rank exits non-zero
        }
        current = comm;
        int[] hashes = new int[comm.size()];
        comm.allgather(argumentsHash(args), hashes);
        for (int r = 1; r < comm.size(); r++) {
            if (hashes[r] != hashes[0]) {
                if (comm.rank() == 0) {
                    comm.abort("rank " + r + " was started with other arguments than rank 0 "
                            + "(every rank must run the same command line)", 2);
                }
                comm.barrier(); // rank 0's abort ends this rank
            }
        }
        PrintStream out = System.out;
        if (comm.rank() != 0) {
            System.setOut(new PrintStream(OutputStream.nullOutputStream()));
        }
        int code;
        try {
            code = command.applyAsInt(args);
        } catch (Throwable t) {
            comm.abort(t.getMessage() == null ? t.toString() : t.getMessage(), 2);
            return 2;
        } finally {
            System.setOut(out);
        }
        if (code != 0) {
            System.err.flush();
            comm.abortQuietly(code);
        }
        comm.close();
        return code;
    }

    /** CRC-32 of the arguments (NUL-separated UTF-8). */
    static int argumentsHash(String[] args) {
        CRC32 crc = new CRC32();
        for (String a : args) {
            crc.update(a.getBytes(StandardCharsets.UTF_8));
            crc.update(0);
        }
        return (int) crc.getValue();
    }
}
