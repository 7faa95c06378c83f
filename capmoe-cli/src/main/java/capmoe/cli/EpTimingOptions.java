package capmoe.cli;

import capmoe.runtime.ep.EpMode;
import picocli.CommandLine.Option;

/**
 * The shared options of a run timed through the expert-parallel runtime (ep-bench, eval --ep,
 * demo): how the devices run, how often every recorded MoE layer call is replayed, and the link
 * for the modelled all-to-all. Each command sets its own defaults.
 */
final class EpTimingOptions {

    @Option(names = {"--ep-mode", "--mode"}, paramLabel = "parallel|timed-serial",
            description = "parallel = devices run concurrently, wall time measured (needs cores >= D); timed-serial = devices "
                    + "timed one after another, for machines with fewer cores than devices (default: ${DEFAULT-VALUE})")
    String mode = "timed-serial";

    @Option(names = "--repeats", paramLabel = "N",
            description = "timed replays of every MoE layer call per policy, interleaved over the policies; speedup = median "
                    + "(default: ${DEFAULT-VALUE})")
    int repeats;

    @Option(names = "--link-gbps", paramLabel = "GBITS",
            description = "per-device link bandwidth for the modelled all-to-all, 0 = no communication term (default: ${DEFAULT-VALUE})")
    double linkGbps;

    /** @param repeats the command's default replays, @param linkGbps its default link */
    EpTimingOptions(int repeats, double linkGbps) {
        this.repeats = repeats;
        this.linkGbps = linkGbps;
    }

    EpMode mode() {
        return EpMode.parse(mode);
    }

    /** --repeats, checked. */
    int repeats() {
        if (repeats < 1) throw new IllegalArgumentException("--repeats must be >= 1 (got " + repeats + ")");
        return repeats;
    }
}
