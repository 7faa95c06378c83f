package capmoe.cli;

import capmoe.runtime.mpi.MpiJob;
import picocli.CommandLine;

/**
 * Bad input (a wrong file, an unknown strategy, a bad config key) is the user's to fix, so it
 * gets one clear line, not a stack trace. Set CAPMOE_DEBUG=1 to see the trace anyway.
 */
final class CleanErrors implements CommandLine.IExecutionExceptionHandler {
    @Override
    public int handleExecutionException(Exception ex, CommandLine cmd, CommandLine.ParseResult parseResult) {
        if (System.getenv("CAPMOE_DEBUG") != null) ex.printStackTrace();
        String msg = ex.getMessage() == null ? ex.getClass().getSimpleName() : ex.getMessage();
        cmd.getErr().println("capmoe " + MpiJob.label() + cmd.getCommandName() + ": error: " + msg); // "rank R " under mpirun
        return 2;
    }
}
