package capmoe.cli;

import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Path;

/** Where a command writes its report folder (under reports/, git-ignored) and whether it shows progress. */
final class ReportOptions {

    @Option(names = "--out", paramLabel = "DIR", description = "report directory (default: ${DEFAULT-VALUE})") Path out;
    @Option(names = "--quiet", description = "no progress lines") boolean quiet;

    /** @param name the folder under reports/ */
    ReportOptions(String name) {
        out = Path.of("reports", name);
    }

    /** Where progress goes: stderr, or nowhere with --quiet. */
    PrintStream progress() {
        return quiet ? null : System.err;
    }
}
