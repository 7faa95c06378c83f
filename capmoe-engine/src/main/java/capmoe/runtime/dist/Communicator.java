package capmoe.runtime.dist;

/**
 * The collectives the distributed (multi-process) runtime needs, over Java arrays, for a
 * group of {@link #size()} ranks. Every method except {@link #rank()}, {@link #size()} and
 * {@link #abort} is collective: all ranks call it, in the same order. Buffers are contiguous:
 * rank r's block starts at the sum of the counts of ranks before r (no displacement arrays).
 *
 * <p>Implemented over Open MPI by {@code capmoe.runtime.mpi.MpiCommunicator}. The interface is
 * owned by the distributed MoE layer ({@code capmoe.runtime.dist}); extend it when that layer
 * needs another collective, and keep each method's contract here.
 */
public interface Communicator extends AutoCloseable {

    /** This process's rank, 0 .. size()-1. */
    int rank();

    /** Number of ranks. */
    int size();

    /** Returns once every rank has called it. */
    void barrier();

    /** recv[r] = send of rank r (one int per rank). */
    void allgather(int send, int[] recv);

    /** recv = the concatenation over ranks r of rank r's first recvCounts[r] floats of send. */
    void allgatherv(float[] send, float[] recv, int[] recvCounts);

    /** As {@link #allgatherv(float[], float[], int[])} for ints. */
    void allgatherv(int[] send, int[] recv, int[] recvCounts);

    /** recv[r] = send[rank()] of rank r: the per-pair counts exchange before an alltoallv. */
    void alltoall(int[] send, int[] recv);

    /**
     * Rank r receives, at its block for this rank, the block for r of this rank's send:
     * send holds sendCounts[0] floats for rank 0, then sendCounts[1] for rank 1, ...;
     * recv holds recvCounts[0] floats from rank 0, then from rank 1, ...
     */
    void alltoallv(float[] send, int[] sendCounts, float[] recv, int[] recvCounts);

    /** As {@link #alltoallv(float[], int[], float[], int[])} for ints. */
    void alltoallv(int[] send, int[] sendCounts, int[] recv, int[] recvCounts);

    /** As {@link #alltoallv(float[], int[], float[], int[])} for 16-bit values (bf16 rows, {@link Wire#BF16}). */
    void alltoallv(short[] send, int[] sendCounts, short[] recv, int[] recvCounts);

    /** Copies root's data into every rank's data (same length on every rank). */
    void broadcast(byte[] data, int root);

    /**
     * Root's bytes, on every rank: their length is broadcast first, then the bytes ({@code data}
     * is read on root only; other ranks may pass null). How rank 0 hands the inputs it read to
     * the others.
     */
    default byte[] share(byte[] data, int root) {
        byte[] length = new byte[4];
        if (rank() == root) java.nio.ByteBuffer.wrap(length).putInt(data.length);
        broadcast(length, root);
        byte[] all = rank() == root ? data.clone() : new byte[java.nio.ByteBuffer.wrap(length).getInt()];
        broadcast(all, root);
        return all;
    }

    /** Ends every rank of the job with this exit code, after printing message on this rank. */
    void abort(String message, int exitCode);

    @Override
    void close();
}
