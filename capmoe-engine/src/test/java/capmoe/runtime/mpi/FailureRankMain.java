package capmoe.runtime.mpi;

import java.time.Duration;

/**
 * One rank of {@link MpiFailureTest}. Modes (first argument):
 * <ul>
 *   <li>{@code exchange}: prints {@code rank R pid P ready}, then exchanges with the others in a
 *       loop (at most 60 s, then exits 3) until something ends the job;</li>
 *   <li>{@code abort R}: rank R ends the job through {@link MpiCommunicator#abort} while the others
 *       exchange;</li>
 *   <li>{@code null-checks}: after {@code MPI_Init}, provokes a million NullPointerExceptions in
 *       compiled code (the JVM's SIGSEGV-based implicit null checks must still be the JVM's);
 *       prints {@code rank R: null checks OK}.</li>
 * </ul>
 */
public final class FailureRankMain {

    public static void main(String[] args) {
        MpiCommunicator comm = MpiCommunicator.open(MpiLaunch.detect().orElseThrow());
        int rank = comm.rank();
        switch (args[0]) {
            case "exchange" -> {
                System.out.println("rank " + rank + " pid " + ProcessHandle.current().pid() + " ready");
                System.out.flush();
                exchangeUntil(comm, Duration.ofSeconds(60));
                System.exit(3);
            }
            case "abort" -> {
                comm.barrier();
                if (rank == Integer.parseInt(args[1])) {
                    comm.abort("cannot open weights /nonexistent/model.safetensors (no such file)", 2);
                }
                exchangeUntil(comm, Duration.ofSeconds(60));
                System.exit(3);
            }
            case "null-checks" -> {
                long caught = 0;
                Object[] objects = {new Object(), null};
                for (int i = 0; i < 1_000_000; i++) {
                    try {
                        caught += objects[i & 1].hashCode() == 0 ? 2 : 0;
                    } catch (NullPointerException e) {
                        caught++;
                    }
                }
                comm.barrier();
                System.out.println("rank " + rank + ": null checks OK (" + caught + " caught)");
                comm.close();
            }
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
    }

    private static void exchangeUntil(MpiCommunicator comm, Duration limit) {
        long end = System.nanoTime() + limit.toNanos();
        int n = comm.size();
        int[] counts = new int[n];
        java.util.Arrays.fill(counts, 1024);
        float[] send = new float[1024 * n], recv = new float[1024 * n];
        while (System.nanoTime() < end) {
            comm.alltoallv(send, counts, recv, counts);
        }
    }
}
