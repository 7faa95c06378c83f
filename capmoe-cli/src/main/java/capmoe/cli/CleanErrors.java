package capmoe.cli;

import capmoe.runtime.mpi.MpiJob;
import picocli.CommandLine;

/**
 * Bad input (a wrong file, an unknown strategy, a bad config key) is the user's to fix, so it
 * gets one clear line, not a stack trace, and exit code 2. A programming error (division by
 * zero, a null, an index out of bounds...) is not the user's: it says so in one line, points to
 * {@code CAPMOE_DEBUG=1} for the stack trace and exits with 70 (EX_SOFTWARE). Set CAPMOE_DEBUG=1
 * to see the trace of either.
 */
final class CleanErrors implements CommandLine.IExecutionExceptionHandler {
    /** Exit code of an internal error (sysexits.h EX_SOFTWARE). */
    static final int INTERNAL = 70;

    @Override
    public int handleExecutionException(Exception ex, CommandLine cmd, CommandLine.ParseResult parseResult) {
        if (System.getenv("CAPMOE_DEBUG") != null) ex.printStackTrace();
        String where = "capmoe " + MpiJob.label() + cmd.getCommandName(); // "rank R " under mpirun
        if (internal(ex)) {
            cmd.getErr().println(where + ": internal error (a bug in capmoe, not in your input): " + ex.getClass().getSimpleName()
                    + (ex.getMessage() == null ? "" : ": " + ex.getMessage().lines().findFirst().orElse(""))
                    + "; rerun with CAPMOE_DEBUG=1 for the stack trace");
            return INTERNAL;
        }
        String msg = ex.getMessage() == null ? ex.getClass().getSimpleName() : ex.getMessage();
        cmd.getErr().println(where + ": error: " + msg);
        return 2;
    }

    /** Exceptions that only a bug can throw; everything else (IllegalArgumentException, I/O, MPI, ...) is about the input or the machine. */
    static boolean internal(Throwable ex) {
        return ex instanceof ArithmeticException || ex instanceof NullPointerException || ex instanceof IndexOutOfBoundsException
                || ex instanceof ClassCastException || ex instanceof NegativeArraySizeException || ex instanceof ArrayStoreException
                || ex instanceof UnsupportedOperationException || ex instanceof java.util.ConcurrentModificationException;
    }
}
