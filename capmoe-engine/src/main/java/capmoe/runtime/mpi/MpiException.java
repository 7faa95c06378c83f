package capmoe.runtime.mpi;

/** An MPI call that failed, or Open MPI that could not be loaded; the message names the call. */
public final class MpiException extends RuntimeException {

    public MpiException(String message) {
        super(message);
    }
}
