package capmoe.runtime.mpi;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * The Open MPI 4.x C calls capmoe uses, bound with {@code java.lang.foreign} against
 * {@code libmpi.so.40} (Debian's {@code openmpi-bin}; Open MPI ships no Java binding any more).
 * One instance per process ({@link #load()}); every method is the C call of the same name,
 * arguments in the C order, with its return code checked by {@link #check}: a non-zero code
 * becomes an {@link MpiException} naming the call and Open MPI's text for the code
 * ({@code MPI_Error_string}), which is what the communicator's {@code MPI_ERRORS_RETURN} handler
 * makes possible (the default handler would kill the job without saying where).
 *
 * <p>Open MPI's handles are not integers (as in MPICH) but addresses of exported structs:
 * {@code MPI_COMM_WORLD} is {@code &ompi_mpi_comm_world}, {@code MPI_FLOAT} is
 * {@code &ompi_mpi_float}, {@code MPI_ERRORS_RETURN} is {@code &ompi_mpi_errors_return}
 * (openmpi/include/mpi.h, lines 979-1140 of Debian's 4.1: {@code OMPI_PREDEFINED_GLOBAL}), so
 * they are looked up here as symbols. {@code MPI_Status} is 24 bytes
 * ({@code struct ompi_status_public_t}, mpi.h line 438); capmoe passes
 * {@code MPI_STATUS_IGNORE} (NULL) and never reads one. Buffers are native memory segments;
 * {@link MpiCommunicator} copies Java arrays into them.
 */
public final class OpenMpi {

    /** The soname of Open MPI 4.x's C library. */
    public static final String LIBRARY = "libmpi.so.40";

    /** {@code MPI_THREAD_SERIALIZED}: any thread may call MPI, one at a time (mpi.h line 711). */
    public static final int THREAD_SERIALIZED = 2;

    private static final int MAX_ERROR_STRING = 256; // OPAL_MAX_ERROR_STRING
    private static final Linker LINKER = Linker.nativeLinker();
    private static volatile OpenMpi instance;

    /** {@code MPI_COMM_WORLD}. */
    public final MemorySegment commWorld;
    /** {@code MPI_FLOAT}, {@code MPI_INT}, {@code MPI_SHORT}, {@code MPI_BYTE}. */
    public final MemorySegment typeFloat, typeInt, typeShort, typeByte;
    /** {@code MPI_ERRORS_RETURN}. */
    public final MemorySegment errorsReturn;

    private final MethodHandle initThread, initialized, finalized, finalizeCall, abortCall,
            commRank, commSize, commSetErrhandler, errorString, barrierCall, bcast, allgatherCall,
            allgathervCall, alltoallCall, alltoallvCall, ialltoallv, waitCall, typeContiguous,
            typeCommit, typeFree;

    private OpenMpi(SymbolLookup mpi) {
        commWorld = symbol(mpi, "ompi_mpi_comm_world");
        typeFloat = symbol(mpi, "ompi_mpi_float");
        typeInt = symbol(mpi, "ompi_mpi_int");
        typeShort = symbol(mpi, "ompi_mpi_short");
        typeByte = symbol(mpi, "ompi_mpi_byte");
        errorsReturn = symbol(mpi, "ompi_mpi_errors_return");
        AddressLayout p = ADDRESS;
        ValueLayout.OfInt i = JAVA_INT;
        initThread = call(mpi, "MPI_Init_thread", p, p, i, p);
        initialized = call(mpi, "MPI_Initialized", p);
        finalized = call(mpi, "MPI_Finalized", p);
        finalizeCall = call(mpi, "MPI_Finalize");
        abortCall = call(mpi, "MPI_Abort", p, i);
        commRank = call(mpi, "MPI_Comm_rank", p, p);
        commSize = call(mpi, "MPI_Comm_size", p, p);
        commSetErrhandler = call(mpi, "MPI_Comm_set_errhandler", p, p);
        errorString = call(mpi, "MPI_Error_string", i, p, p);
        barrierCall = call(mpi, "MPI_Barrier", p);
        bcast = call(mpi, "MPI_Bcast", p, i, p, i, p);
        allgatherCall = call(mpi, "MPI_Allgather", p, i, p, p, i, p, p);
        allgathervCall = call(mpi, "MPI_Allgatherv", p, i, p, p, p, p, p, p);
        alltoallCall = call(mpi, "MPI_Alltoall", p, i, p, p, i, p, p);
        alltoallvCall = call(mpi, "MPI_Alltoallv", p, p, p, p, p, p, p, p, p);
        ialltoallv = call(mpi, "MPI_Ialltoallv", p, p, p, p, p, p, p, p, p, p);
        waitCall = call(mpi, "MPI_Wait", p, p);
        typeContiguous = call(mpi, "MPI_Type_contiguous", i, p, p);
        typeCommit = call(mpi, "MPI_Type_commit", p);
        typeFree = call(mpi, "MPI_Type_free", p);
    }

    /**
     * Loads {@code libmpi.so.40} once per process.
     *
     * @throws MpiException when the library is not installed (naming the package to install)
     */
    public static OpenMpi load() {
        OpenMpi mpi = instance;
        if (mpi == null) {
            synchronized (OpenMpi.class) {
                mpi = instance;
                if (mpi == null) {
                    SymbolLookup lookup;
                    try {
                        lookup = SymbolLookup.libraryLookup(LIBRARY, Arena.global());
                    } catch (IllegalArgumentException e) {
                        throw new MpiException("cannot load " + LIBRARY + " (Open MPI 4.x): " + e.getMessage()
                                + "; install it: apt-get install -y --no-install-recommends openmpi-bin");
                    }
                    mpi = instance = new OpenMpi(lookup);
                }
            }
        }
        return mpi;
    }

    private static MemorySegment symbol(SymbolLookup lookup, String name) {
        return lookup.find(name).orElseThrow(() -> new MpiException(
                LIBRARY + " has no symbol " + name + ": not Open MPI 4.x"));
    }

    private static MethodHandle call(SymbolLookup lookup, String name, ValueLayout... args) {
        return LINKER.downcallHandle(symbol(lookup, name), FunctionDescriptor.of(JAVA_INT, args));
    }

    /** Throws an {@link MpiException} naming {@code call} when {@code rc} is not {@code MPI_SUCCESS}. */
    public void check(int rc, String call) {
        if (rc != 0) {
            throw new MpiException(call + " failed: " + errorString(rc) + " (error code " + rc + ")");
        }
    }

    /** {@code MPI_Error_string}: Open MPI's text for an error code. */
    public String errorString(int code) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment text = arena.allocate(MAX_ERROR_STRING);
            MemorySegment length = arena.allocate(JAVA_INT);
            int rc = (int) errorString.invokeExact(code, text, length);
            if (rc != 0) {
                return "unknown MPI error";
            }
            byte[] bytes = text.asSlice(0, length.get(JAVA_INT, 0)).toArray(ValueLayout.JAVA_BYTE);
            return new String(bytes, StandardCharsets.US_ASCII);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MPI_Init_thread(NULL, NULL, required, &provided)}; returns provided. */
    public int initThread(int required) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment provided = arena.allocate(JAVA_INT);
            check((int) initThread.invokeExact(MemorySegment.NULL, MemorySegment.NULL, required, provided),
                    "MPI_Init_thread");
            return provided.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MPI_Initialized}. */
    public boolean initialized() {
        return flag(initialized, "MPI_Initialized");
    }

    /** {@code MPI_Finalized}. */
    public boolean finalized() {
        return flag(finalized, "MPI_Finalized");
    }

    private boolean flag(MethodHandle h, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment flag = arena.allocate(JAVA_INT);
            check((int) h.invokeExact(flag), name);
            return flag.get(JAVA_INT, 0) != 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MPI_Finalize}. */
    public void finalizeMpi() {
        try {
            check((int) finalizeCall.invokeExact(), "MPI_Finalize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MPI_Abort(comm, code)}: ends every process of the job; does not return normally. */
    public void abort(MemorySegment comm, int code) {
        try {
            check((int) abortCall.invokeExact(comm, code), "MPI_Abort");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MPI_Comm_rank}. */
    public int commRank(MemorySegment comm) {
        return intOut(commRank, comm, "MPI_Comm_rank");
    }

    /** {@code MPI_Comm_size}. */
    public int commSize(MemorySegment comm) {
        return intOut(commSize, comm, "MPI_Comm_size");
    }

    private int intOut(MethodHandle h, MemorySegment comm, String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(JAVA_INT);
            check((int) h.invokeExact(comm, out), name);
            return out.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MPI_Comm_set_errhandler}. */
    public void commSetErrhandler(MemorySegment comm, MemorySegment errhandler) {
        try {
            check((int) commSetErrhandler.invokeExact(comm, errhandler), "MPI_Comm_set_errhandler");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MPI_Barrier}. */
    public void barrier(MemorySegment comm) {
        try {
            check((int) barrierCall.invokeExact(comm), "MPI_Barrier");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MPI_Bcast}. */
    public void bcast(MemorySegment buf, int count, MemorySegment type, int root, MemorySegment comm) {
        try {
            check((int) bcast.invokeExact(buf, count, type, root, comm), "MPI_Bcast");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MPI_Allgather}. */
    public void allgather(MemorySegment send, int sendCount, MemorySegment sendType,
                          MemorySegment recv, int recvCount, MemorySegment recvType, MemorySegment comm) {
        try {
            check((int) allgatherCall.invokeExact(send, sendCount, sendType, recv, recvCount, recvType, comm),
                    "MPI_Allgather");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MPI_Allgatherv}; {@code recvCounts} and {@code displs} are native int arrays. */
    public void allgatherv(MemorySegment send, int sendCount, MemorySegment sendType, MemorySegment recv,
                           MemorySegment recvCounts, MemorySegment displs, MemorySegment recvType,
                           MemorySegment comm) {
        try {
            check((int) allgathervCall.invokeExact(send, sendCount, sendType, recv, recvCounts, displs,
                    recvType, comm), "MPI_Allgatherv");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MPI_Alltoall}. */
    public void alltoall(MemorySegment send, int sendCount, MemorySegment sendType,
                         MemorySegment recv, int recvCount, MemorySegment recvType, MemorySegment comm) {
        try {
            check((int) alltoallCall.invokeExact(send, sendCount, sendType, recv, recvCount, recvType, comm),
                    "MPI_Alltoall");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MPI_Alltoallv}; counts and displacements are native int arrays of comm's size. */
    public void alltoallv(MemorySegment send, MemorySegment sendCounts, MemorySegment sendDispls,
                          MemorySegment sendType, MemorySegment recv, MemorySegment recvCounts,
                          MemorySegment recvDispls, MemorySegment recvType, MemorySegment comm) {
        try {
            check((int) alltoallvCall.invokeExact(send, sendCounts, sendDispls, sendType, recv, recvCounts,
                    recvDispls, recvType, comm), "MPI_Alltoallv");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code MPI_Ialltoallv}: starts the exchange and writes its {@code MPI_Request} into
     * {@code request} (one pointer); the buffers, counts and displacements must stay untouched
     * until {@link #waitRequest} returns.
     */
    public void ialltoallv(MemorySegment send, MemorySegment sendCounts, MemorySegment sendDispls,
                           MemorySegment sendType, MemorySegment recv, MemorySegment recvCounts,
                           MemorySegment recvDispls, MemorySegment recvType, MemorySegment comm,
                           MemorySegment request) {
        try {
            check((int) ialltoallv.invokeExact(send, sendCounts, sendDispls, sendType, recv, recvCounts,
                    recvDispls, recvType, comm, request), "MPI_Ialltoallv");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MPI_Wait(request, MPI_STATUS_IGNORE)}. */
    public void waitRequest(MemorySegment request) {
        try {
            check((int) waitCall.invokeExact(request, MemorySegment.NULL), "MPI_Wait");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * {@code MPI_Type_contiguous} + {@code MPI_Type_commit}: a datatype of {@code count} elements
     * of {@code base} (one hidden row as one element). Free it with {@link #typeFree}.
     */
    public MemorySegment typeContiguous(int count, MemorySegment base) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment type = arena.allocate(ADDRESS);
            check((int) typeContiguous.invokeExact(count, base, type), "MPI_Type_contiguous");
            check((int) typeCommit.invokeExact(type), "MPI_Type_commit");
            return type.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {@code MPI_Type_free}. */
    public void typeFree(MemorySegment type) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment handle = arena.allocate(ADDRESS);
            handle.set(ADDRESS, 0, type);
            check((int) typeFree.invokeExact(handle), "MPI_Type_free");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        throw new IllegalStateException(t);
    }
}
