package capmoe.cli;

import picocli.CommandLine.Option;

/** How many tokens a request generates and how they are drawn (generate, loadgen); each command sets its default length. */
final class SamplingOptions {

    @Option(names = "--max-tokens", paramLabel = "N", description = "new tokens to generate per request (default: ${DEFAULT-VALUE})") int maxTokens;

    @Option(names = "--temperature", paramLabel = "T", description = "sampling temperature, 0 = greedy (default: ${DEFAULT-VALUE})")
    double temperature = 0;

    /** @param maxTokens the command's default length */
    SamplingOptions(int maxTokens) {
        this.maxTokens = maxTokens;
    }

    /** --max-tokens, checked. */
    int maxTokens() {
        if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be >= 1 (got " + maxTokens + ")");
        return maxTokens;
    }
}
