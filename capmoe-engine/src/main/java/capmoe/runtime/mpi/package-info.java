/**
 * Open MPI from Java: the C calls capmoe's distributed runtime needs, bound with
 * {@code java.lang.foreign} against Debian's {@code libmpi.so.40} ({@link capmoe.runtime.mpi.OpenMpi}),
 * the {@link capmoe.runtime.dist.Communicator} over them ({@link capmoe.runtime.mpi.MpiCommunicator}),
 * and launch detection ({@link capmoe.runtime.mpi.MpiLaunch}: a process that {@code mpirun} did
 * not start never loads Open MPI and keeps the in-JVM devices).
 *
 * <p>Why a binding of our own: Debian ships no {@code mpi.jar} and Open MPI 5 dropped its Java
 * bindings; the dozen calls capmoe makes ({@code MPI_Init_thread}, rank/size, {@code Alltoall},
 * {@code Alltoallv}, {@code Ialltoallv}/{@code Wait}, {@code Allgather(v)}, {@code Bcast},
 * {@code Barrier}, {@code Abort}, {@code Finalize}, datatypes, error handler) fit in one class.
 * Errors: {@code MPI_ERRORS_RETURN} on the communicator, and every return code checked into an
 * {@link capmoe.runtime.mpi.MpiException} that names the call and Open MPI's text for the code.
 */
package capmoe.runtime.mpi;
