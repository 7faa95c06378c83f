package capmoe.runtime.mpi;

import capmoe.runtime.dist.Communicator;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * {@link Communicator} over Open MPI's {@code MPI_COMM_WORLD} (see {@link OpenMpi} for the
 * binding). Each collective:
 * <ol>
 *   <li>checks the Java arrays against the counts (a wrong length is this rank's bug and fails
 *       here, naming the argument, before any rank waits for it);</li>
 *   <li>copies the send array into a native scratch buffer (Java heap arrays cannot be handed to
 *       a blocking native call) and writes counts and displacements (prefix sums) as native ints;</li>
 *   <li>makes the MPI call; a failure is an {@link MpiException} naming it
 *       ({@code MPI_ERRORS_RETURN} is set on the communicator at {@link #open});</li>
 *   <li>copies the receive buffer back into the Java array.</li>
 * </ol>
 * Scratch buffers grow to the largest exchange seen and are reused. Calls are serialised by this
 * object's lock ({@code MPI_THREAD_SERIALIZED}): any thread may call, one at a time.
 */
public final class MpiCommunicator implements Communicator {

    private final OpenMpi mpi;
    private final MemorySegment world;
    private final int rank;
    private final int size;
    private final Arena arena = Arena.ofShared();
    /** Four native int[size] arrays: send counts, send displacements, receive counts, receive displacements. */
    private final MemorySegment sendCounts, sendDispls, recvCounts, recvDispls;
    /** Native send and receive scratch, in bytes; grown by {@link #scratch}. */
    private MemorySegment sendBuf = MemorySegment.NULL, recvBuf = MemorySegment.NULL;
    private boolean closed;

    private MpiCommunicator(OpenMpi mpi) {
        this.mpi = mpi;
        this.world = mpi.commWorld;
        this.rank = mpi.commRank(world);
        this.size = mpi.commSize(world);
        this.sendCounts = arena.allocate(JAVA_INT, size);
        this.sendDispls = arena.allocate(JAVA_INT, size);
        this.recvCounts = arena.allocate(JAVA_INT, size);
        this.recvDispls = arena.allocate(JAVA_INT, size);
    }

    /**
     * Initialises Open MPI for this process and returns {@code MPI_COMM_WORLD}:
     * <ol>
     *   <li>loads {@code libmpi.so.40};</li>
     *   <li>{@code MPI_Init_thread(MPI_THREAD_SERIALIZED)};</li>
     *   <li>{@code MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN)};</li>
     *   <li>checks rank and size against what the launcher's environment said.</li>
     * </ol>
     * Call once per process, only when {@link MpiLaunch#detect()} found a launcher.
     */
    public static MpiCommunicator open(MpiLaunch launch) {
        OpenMpi mpi = OpenMpi.load();
        if (mpi.initialized()) {
            throw new MpiException("MPI_Init_thread: MPI is already initialised in this process");
        }
        int provided = mpi.initThread(OpenMpi.THREAD_SERIALIZED);
        mpi.commSetErrhandler(mpi.commWorld, mpi.errorsReturn);
        if (provided < OpenMpi.THREAD_SERIALIZED) {
            throw new MpiException("MPI_Init_thread: Open MPI provides thread level " + provided
                    + ", capmoe needs MPI_THREAD_SERIALIZED (" + OpenMpi.THREAD_SERIALIZED + ")");
        }
        MpiCommunicator comm = new MpiCommunicator(mpi);
        if (comm.rank != launch.rank() || (launch.size() != 0 && comm.size != launch.size())) {
            throw new MpiException("MPI_Comm_rank/size: MPI says rank " + comm.rank + " of " + comm.size
                    + " but " + launch.launcher() + " says rank " + launch.rank() + " of " + launch.size());
        }
        return comm;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public synchronized void barrier() {
        open();
        mpi.barrier(world);
    }

    @Override
    public synchronized void allgather(int send, int[] recv) {
        open();
        atLeast("allgather recv", recv.length, size);
        MemorySegment out = scratchSend(JAVA_INT.byteSize());
        out.set(JAVA_INT, 0, send);
        MemorySegment in = scratchRecv((long) size * JAVA_INT.byteSize());
        mpi.allgather(out, 1, mpi.typeInt, in, 1, mpi.typeInt, world);
        MemorySegment.copy(in, JAVA_INT, 0, recv, 0, size);
    }

    @Override
    public synchronized void allgatherv(float[] send, float[] recv, int[] recvCounts) {
        allgatherv(send, send.length, recv, recv.length, recvCounts, JAVA_FLOAT, mpi.typeFloat);
    }

    @Override
    public synchronized void allgatherv(int[] send, int[] recv, int[] recvCounts) {
        allgatherv(send, send.length, recv, recv.length, recvCounts, JAVA_INT, mpi.typeInt);
    }

    /** Both allgatherv overloads: send and recv are Java arrays of {@code layout}'s carrier, MPI type {@code type}. */
    private void allgatherv(Object send, int sendLength, Object recv, int recvLength, int[] recvCounts,
                            ValueLayout layout, MemorySegment type) {
        open();
        int total = counts("allgatherv recvCounts", recvCounts, this.recvCounts, recvDispls);
        atLeast("allgatherv send", sendLength, recvCounts[rank]);
        atLeast("allgatherv recv", recvLength, total);
        MemorySegment out = scratchSend((long) recvCounts[rank] * layout.byteSize());
        MemorySegment.copy(send, 0, out, layout, 0, recvCounts[rank]);
        MemorySegment in = scratchRecv((long) total * layout.byteSize());
        mpi.allgatherv(out, recvCounts[rank], type, in, this.recvCounts, recvDispls, type, world);
        MemorySegment.copy(in, layout, 0, recv, 0, total);
    }

    @Override
    public synchronized void alltoall(int[] send, int[] recv) {
        open();
        atLeast("alltoall send", send.length, size);
        atLeast("alltoall recv", recv.length, size);
        MemorySegment out = scratchSend((long) size * Integer.BYTES);
        MemorySegment.copy(send, 0, out, JAVA_INT, 0, size);
        MemorySegment in = scratchRecv((long) size * Integer.BYTES);
        mpi.alltoall(out, 1, mpi.typeInt, in, 1, mpi.typeInt, world);
        MemorySegment.copy(in, JAVA_INT, 0, recv, 0, size);
    }

    @Override
    public synchronized void alltoallv(float[] send, int[] sendCounts, float[] recv, int[] recvCounts) {
        alltoallv(send, send.length, sendCounts, recv, recv.length, recvCounts, JAVA_FLOAT, mpi.typeFloat);
    }

    @Override
    public synchronized void alltoallv(int[] send, int[] sendCounts, int[] recv, int[] recvCounts) {
        alltoallv(send, send.length, sendCounts, recv, recv.length, recvCounts, JAVA_INT, mpi.typeInt);
    }

    @Override
    public synchronized void alltoallv(short[] send, int[] sendCounts, short[] recv, int[] recvCounts) {
        alltoallv(send, send.length, sendCounts, recv, recv.length, recvCounts, JAVA_SHORT, mpi.typeShort);
    }

    /** The alltoallv overloads: send and recv are Java arrays of {@code layout}'s carrier, MPI type {@code type}. */
    private void alltoallv(Object send, int sendLength, int[] sendCounts, Object recv, int recvLength, int[] recvCounts,
                           ValueLayout layout, MemorySegment type) {
        open();
        int sent = counts("alltoallv sendCounts", sendCounts, this.sendCounts, sendDispls);
        int received = counts("alltoallv recvCounts", recvCounts, this.recvCounts, recvDispls);
        atLeast("alltoallv send", sendLength, sent);
        atLeast("alltoallv recv", recvLength, received);
        MemorySegment out = scratchSend((long) sent * layout.byteSize());
        MemorySegment.copy(send, 0, out, layout, 0, sent);
        MemorySegment in = scratchRecv((long) received * layout.byteSize());
        mpi.alltoallv(out, this.sendCounts, sendDispls, type, in, this.recvCounts, recvDispls, type, world);
        MemorySegment.copy(in, layout, 0, recv, 0, received);
    }

    /**
     * {@code MPI_Ialltoallv} then {@code MPI_Wait}, with this rank's work between them: same
     * contract as {@link #alltoallv(float[], int[], float[], int[])}, except that
     * {@code between} runs after the exchange started and before this rank waits for it (it must
     * not use this communicator, nor touch {@code recv}). Returns the nanoseconds spent in
     * {@code MPI_Wait} (how long this rank waited for the others after its own work).
     */
    public synchronized long alltoallvOverlapped(float[] send, int[] sendCounts, float[] recv, int[] recvCounts,
                                                 Runnable between) {
        open();
        int sent = counts("alltoallv sendCounts", sendCounts, this.sendCounts, sendDispls);
        int received = counts("alltoallv recvCounts", recvCounts, this.recvCounts, recvDispls);
        atLeast("alltoallv send", send.length, sent);
        atLeast("alltoallv recv", recv.length, received);
        MemorySegment out = scratchSend((long) sent * Float.BYTES);
        MemorySegment.copy(send, 0, out, JAVA_FLOAT, 0, sent);
        MemorySegment in = scratchRecv((long) received * Float.BYTES);
        try (Arena call = Arena.ofConfined()) {
            MemorySegment request = call.allocate(ADDRESS);
            mpi.ialltoallv(out, this.sendCounts, sendDispls, mpi.typeFloat,
                    in, this.recvCounts, recvDispls, mpi.typeFloat, world, request);
            between.run();
            long t0 = System.nanoTime();
            mpi.waitRequest(request);
            long waited = System.nanoTime() - t0;
            MemorySegment.copy(in, JAVA_FLOAT, 0, recv, 0, received);
            return waited;
        }
    }

    @Override
    public synchronized void broadcast(byte[] data, int root) {
        open();
        MemorySegment buf = scratchSend(data.length);
        if (rank == root) {
            MemorySegment.copy(data, 0, buf, JAVA_BYTE, 0, data.length);
        }
        mpi.bcast(buf, data.length, mpi.typeByte, root, world);
        MemorySegment.copy(buf, JAVA_BYTE, 0, data, 0, data.length);
    }

    /**
     * Prints {@code capmoe rank R: message} on this rank's stderr, then {@link #abortQuietly}.
     * Not synchronised: it may be called while another thread is blocked in a collective.
     */
    @Override
    public void abort(String message, int exitCode) {
        System.out.flush();
        System.err.println("capmoe rank " + rank + ": " + message);
        abortQuietly(exitCode);
    }

    /**
     * {@code MPI_Abort}: Open MPI's launcher ends every rank of the job, and the job exits with
     * {@code exitCode}; for a rank that has already printed why.
     */
    public void abortQuietly(int exitCode) {
        System.out.flush();
        System.err.flush();
        try {
            mpi.abort(world, exitCode);
        } finally {
            Runtime.getRuntime().halt(exitCode); // MPI_Abort does not return; if it did, still end this rank
        }
    }

    /** {@code MPI_Finalize}, once; a collective (every rank calls it) after the last exchange. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (!mpi.finalized()) {
            mpi.finalizeMpi();
        }
        arena.close();
    }

    private void open() {
        if (closed) {
            throw new IllegalStateException("MpiCommunicator used after close (MPI_Finalize)");
        }
    }

    /**
     * Writes counts and their prefix sums (displacements) as native ints and returns the total.
     */
    private int counts(String what, int[] counts, MemorySegment nativeCounts, MemorySegment nativeDispls) {
        if (counts.length != size) {
            throw new IllegalArgumentException(what + " has " + counts.length + " entries, need one per rank (" + size + ")");
        }
        long total = 0;
        for (int r = 0; r < size; r++) {
            if (counts[r] < 0) {
                throw new IllegalArgumentException(what + "[" + r + "] = " + counts[r] + " is negative");
            }
            nativeCounts.setAtIndex(JAVA_INT, r, counts[r]);
            nativeDispls.setAtIndex(JAVA_INT, r, (int) total);
            total += counts[r];
        }
        if (total > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(what + " add up to " + total + " elements, over MPI's int displacements");
        }
        return (int) total;
    }

    private static void atLeast(String what, int length, int needed) {
        if (length < needed) {
            throw new IllegalArgumentException(what + " has " + length + " elements, the counts need " + needed);
        }
    }

    private MemorySegment scratchSend(long bytes) {
        if (sendBuf.byteSize() < Math.max(1, bytes)) {
            sendBuf = grow(bytes);
        }
        return sendBuf;
    }

    private MemorySegment scratchRecv(long bytes) {
        if (recvBuf.byteSize() < Math.max(1, bytes)) {
            recvBuf = grow(bytes);
        }
        return recvBuf;
    }

    /** A native buffer of at least {@code bytes} (doubling, 64-byte aligned); the old one is freed by GC. */
    private static MemorySegment grow(long bytes) {
        long capacity = Math.max(4096, Long.highestOneBit(Math.max(1, bytes - 1)) << 1);
        return Arena.ofAuto().allocate(capacity, 64);
    }
}
