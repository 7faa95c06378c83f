package capmoe.cli;

import picocli.CommandLine.Option;

/**
 * The scheduler options shared by {@code serve} and by the servers {@code loadgen --model} starts:
 * KV slots, tokens per step, whether capacity applies to decode-only steps, and how the experts
 * run when there are several devices ({@link capmoe.serve.ServeOptions} holds them).
 */
final class ServerOptions {

    @Option(names = "--decode-capacity", paramLabel = "on|off",
            description = "on: the policy applies to decode-only steps too; off: they run under none, as the official code "
                    + "does for one-token forwards (default: ${DEFAULT-VALUE})")
    String decodeCapacity = "on";

    @Option(names = "--max-running", paramLabel = "N", description = "KV slots = sequences running at once (default: ${DEFAULT-VALUE})")
    int maxRunning = 16;

    @Option(names = "--max-batch-tokens", paramLabel = "N",
            description = "tokens per step: decode tokens, then prefill chunks (default: ${DEFAULT-VALUE})")
    int maxBatchTokens = 512;

    @Option(names = "--ep-mode", paramLabel = "parallel|timed-serial",
            description = "with --devices above 1 the experts run through the in-process EP runtime in this mode (default: ${DEFAULT-VALUE})")
    String epMode = "parallel";

    /** --decode-capacity as a boolean. */
    boolean decodeCapacity() {
        return switch (decodeCapacity) {
            case "on" -> true;
            case "off" -> false;
            default -> throw new IllegalArgumentException("--decode-capacity must be on or off, got '" + decodeCapacity + "'");
        };
    }
}
