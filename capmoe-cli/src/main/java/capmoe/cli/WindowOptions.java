package capmoe.cli;

import picocli.CommandLine.Option;

/**
 * How a text is cut for perplexity (demo, eval's text:PATH and wikitext-windows): windows of
 * --seq tokens, --batch of them per forward pass (capacity is computed over the batch), the
 * first --windows of each text. Each command sets its default window count.
 */
final class WindowOptions {

    @Option(names = "--seq", paramLabel = "N", description = "tokens per window, at least 2 (default: ${DEFAULT-VALUE})") int seq = 256;
    @Option(names = "--batch", paramLabel = "N", description = "sequences (windows) per forward pass (default: ${DEFAULT-VALUE})") int batch = 8;

    @Option(names = "--windows", paramLabel = "N", description = "first N windows of each text; eval: 0 = its --limit (default: ${DEFAULT-VALUE})")
    int windows;

    /** @param windows the command's default window count */
    WindowOptions(int windows) {
        this.windows = windows;
    }

    /** Checks the three against their ranges (windows from {@code minWindows}). */
    WindowOptions check(int minWindows) {
        if (windows < minWindows) throw new IllegalArgumentException("--windows must be >= " + minWindows + " (got " + windows + ")");
        if (seq < 2) throw new IllegalArgumentException("--seq must be >= 2: a window scores tokens 2..seq from the ones before (got " + seq + ")");
        if (batch < 1) throw new IllegalArgumentException("--batch must be >= 1 (got " + batch + ")");
        return this;
    }
}
