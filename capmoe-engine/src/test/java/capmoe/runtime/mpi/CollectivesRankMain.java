package capmoe.runtime.mpi;

import java.util.Arrays;

/**
 * One rank of {@link MpiCommunicatorTest}: runs every collective of {@link MpiCommunicator} with
 * uneven, rank-dependent sizes (some blocks empty) at three scales (small, large, small again: the
 * scratch buffers grow and are reused), and checks every received element bit for bit against
 * the value its sender computed ({@link #value}). Prints {@code rank R of S: OK, N floats and M
 * ints checked} and exits 0, or {@code rank R: MISMATCH ...} and exits 1 (ending the job).
 */
public final class CollectivesRankMain {

    private static long floats, ints;

    public static void main(String[] args) {
        MpiLaunch launch = MpiLaunch.detect().orElseThrow(() -> new AssertionError("not started by mpirun"));
        try (MpiCommunicator comm = MpiCommunicator.open(launch)) {
            int rank = comm.rank(), size = comm.size();
            comm.barrier();
            for (int scale : new int[] {1, 37, 3}) {
                allgather(comm, scale);
                alltoall(comm, scale);
                alltoallv(comm, scale);
                allgatherv(comm, scale);
                broadcast(comm, scale);
            }
            // MPI_ERRORS_RETURN: an invalid root comes back as an exception naming the call
            try {
                comm.broadcast(new byte[4], size);
                fail(rank, "MPI_Bcast with root " + size + " of " + size + " did not fail");
            } catch (MpiException e) {
                System.out.println("rank " + rank + " error: " + e.getMessage());
            }
            comm.barrier();
            System.out.println("rank " + rank + " of " + size + ": OK, " + floats + " floats and " + ints + " ints checked");
        }
    }

    /** Elements from rank s for rank d at scale k: some pairs send nothing, the others uneven. */
    static int count(int s, int d, int k) {
        return (s + 2 * d) % 3 == 0 ? 0 : k * (1 + (s * 7919 + d * 104729) % 500);
    }

    /** Element i of the block from s to d in round k: a positive, finite float (no NaN bit patterns). */
    static int value(int s, int d, int i, int k) {
        int h = s * 0x9E3779B1 ^ d * 0x85EBCA77 ^ i * 0xC2B2AE3D ^ k * 0x27D4EB2F;
        h ^= h >>> 15;
        h *= 0x2C1B3C6D;
        h ^= h >>> 12;
        return h & 0x3FFFFFFF;
    }

    private static void allgather(MpiCommunicator comm, int k) {
        int[] recv = new int[comm.size()];
        comm.allgather(value(comm.rank(), 0, 0, k), recv);
        for (int r = 0; r < comm.size(); r++) {
            expect(comm.rank(), "allgather", r, 0, recv[r], value(r, 0, 0, k));
        }
        ints += comm.size();
    }

    private static void alltoall(MpiCommunicator comm, int k) {
        int size = comm.size(), rank = comm.rank();
        int[] send = new int[size], recv = new int[size];
        for (int d = 0; d < size; d++) {
            send[d] = value(rank, d, 0, k);
        }
        comm.alltoall(send, recv);
        for (int s = 0; s < size; s++) {
            expect(rank, "alltoall", s, 0, recv[s], value(s, rank, 0, k));
        }
        ints += size;
    }

    private static void alltoallv(MpiCommunicator comm, int k) {
        int size = comm.size(), rank = comm.rank();
        int[] sendCounts = new int[size], recvCounts = new int[size];
        for (int r = 0; r < size; r++) {
            sendCounts[r] = count(rank, r, k);
            recvCounts[r] = count(r, rank, k);
        }
        int sent = Arrays.stream(sendCounts).sum(), received = Arrays.stream(recvCounts).sum();
        float[] sendF = new float[sent];
        int[] sendI = new int[sent];
        for (int d = 0, at = 0; d < size; d++) {
            for (int i = 0; i < sendCounts[d]; i++, at++) {
                sendI[at] = value(rank, d, i, k);
                sendF[at] = Float.intBitsToFloat(sendI[at]);
            }
        }
        float[] recvF = new float[received];
        int[] recvI = new int[received];
        comm.alltoallv(sendF, sendCounts, recvF, recvCounts);
        checkBlocks(rank, "alltoallv(float)", recvCounts, k, i -> Float.floatToRawIntBits(recvF[i]));
        comm.alltoallv(sendI, sendCounts, recvI, recvCounts);
        checkBlocks(rank, "alltoallv(int)", recvCounts, k, i -> recvI[i]);
        Arrays.fill(recvF, 0f);
        long[] betweenRan = {0};
        comm.alltoallvOverlapped(sendF, sendCounts, recvF, recvCounts, () -> betweenRan[0]++);
        if (betweenRan[0] != 1) {
            fail(rank, "alltoallvOverlapped ran its work " + betweenRan[0] + " times");
        }
        checkBlocks(rank, "ialltoallv+wait(float)", recvCounts, k, i -> Float.floatToRawIntBits(recvF[i]));
        floats += 2L * received;
        ints += received;
    }

    private static void allgatherv(MpiCommunicator comm, int k) {
        int size = comm.size(), rank = comm.rank();
        int[] counts = new int[size];
        for (int r = 0; r < size; r++) {
            counts[r] = count(r, r, k); // rank 0 contributes nothing
        }
        int total = Arrays.stream(counts).sum();
        float[] sendF = new float[counts[rank]];
        int[] sendI = new int[counts[rank]];
        for (int i = 0; i < counts[rank]; i++) {
            sendI[i] = value(rank, rank, i, k);
            sendF[i] = Float.intBitsToFloat(sendI[i]);
        }
        float[] recvF = new float[total];
        int[] recvI = new int[total];
        comm.allgatherv(sendF, recvF, counts);
        comm.allgatherv(sendI, recvI, counts);
        for (int s = 0, at = 0; s < size; s++) {
            for (int i = 0; i < counts[s]; i++, at++) {
                expect(rank, "allgatherv(float)", s, i, Float.floatToRawIntBits(recvF[at]), value(s, s, i, k));
                expect(rank, "allgatherv(int)", s, i, recvI[at], value(s, s, i, k));
            }
        }
        floats += total;
        ints += total;
    }

    private static void broadcast(MpiCommunicator comm, int k) {
        int root = comm.size() - 1;
        byte[] data = new byte[1000 * k + 3];
        if (comm.rank() == root) {
            for (int i = 0; i < data.length; i++) {
                data[i] = (byte) value(root, 0, i, k);
            }
        }
        comm.broadcast(data, root);
        for (int i = 0; i < data.length; i++) {
            expect(comm.rank(), "broadcast", root, i, data[i], (byte) value(root, 0, i, k));
        }
    }

    private static void checkBlocks(int rank, String call, int[] recvCounts, int k,
                                    java.util.function.IntUnaryOperator got) {
        for (int s = 0, at = 0; s < recvCounts.length; s++) {
            for (int i = 0; i < recvCounts[s]; i++, at++) {
                expect(rank, call, s, i, got.applyAsInt(at), value(s, rank, i, k));
            }
        }
    }

    private static void expect(int rank, String call, int from, int i, int got, int want) {
        if (got != want) {
            fail(rank, call + ": element " + i + " from rank " + from + " is 0x" + Integer.toHexString(got)
                    + ", sent 0x" + Integer.toHexString(want));
        }
    }

    private static void fail(int rank, String what) {
        System.out.println("rank " + rank + ": MISMATCH " + what);
        System.out.flush();
        Runtime.getRuntime().halt(1);
    }
}
