package capmoe.cli;

import capmoe.routing.GoldenCase;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.Router;
import capmoe.routing.RouterConfig;
import capmoe.routing.Routing;
import capmoe.routing.RoutingStats;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code ./capmoe route}: one policy on a probability file, or a file of golden cases checked. */
@Command(name = "route", mixinStandardHelpOptions = true,
        description = {
                "Applies a capacity policy to gate probabilities and prints the load per expert and per device "
                        + "before/after, and the drop rate:",
                "  ./capmoe route --probs FILE.json --strategy score --gamma 1.5 [--top-k 8]",
                "FILE.json holds T x E probabilities, one row per token with one value in [0, 1] per expert: a bare "
                        + "array [[0.1, 0.7, ...], ...] or {\"probs\": [[...], ...]}. Each token takes its top-k experts by "
                        + "probability, then the policy applies (exact semantics: shared/fixtures/routing/README.md).",
                "",
                "Or checks every case of a file in the format of shared/fixtures/routing/cases.json:",
                "  ./capmoe route --cases FILE.json",
                "printing one line per mismatch and 'N passed, M failed'; exits 1 on any mismatch.",
                ""})
public final class RouteCommand implements Callable<Integer> {

    @Spec CommandSpec spec;

    static final class Input {
        @Option(names = "--probs", paramLabel = "FILE", description = "T x E probabilities (JSON)") Path probs;
        @Option(names = "--cases", paramLabel = "FILE", description = "routing cases with expected outcomes (JSON, fixtures format)") Path cases;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Input input;

    @Option(names = "--strategy", paramLabel = "NAME",
            description = "none, score, order, reverse, random, expanded, expanded_origin, device, expert_drop "
                    + "(or a full policy spec such as score@1.5)")
    String strategy;

    @Option(names = "--gamma", description = "capacity factor (default: ${DEFAULT-VALUE})") double gamma = 1.0;
    @Option(names = "--rho", description = "expert_drop: ratio of experts skipped (default: ${DEFAULT-VALUE})") double rho = 0.1;
    @Option(names = "--seed", description = "random: seed") Long seed;
    @Option(names = "--local", paramLabel = "LIST", description = "expanded: local experts, e.g. 0-7 or 0,3,5 (default 0..min(8,E)-1)") String local;
    @Option(names = "--m", description = "expanded_origin: extra experts from the origin device (default top_k)") Integer m;
    @Option(names = {"-k", "--top-k"}, description = "experts per token (default: ${DEFAULT-VALUE})") int topK = 8;
    @Option(names = "--renormalize", description = "divide kept weights by their sum per token (norm_topk_prob)") boolean renormalize;
    @Option(names = "--devices", description = "devices for contiguous placement (default min(8, E))") Integer devices;
    @Option(names = "--placement", paramLabel = "SPEC", description = "contiguous:D, or a device id per expert: 0,0,1,1,...") String placement;

    @Option(names = "--placement-file", paramLabel = "FILE",
            description = "a device id per expert, in expert order, separated by commas, spaces or newlines (# comments)")
    Path placementFile;

    @Option(names = "--tolerance", description = "--cases: weight tolerance (default: ${DEFAULT-VALUE})") double tolerance = 1e-6;

    @Override
    public Integer call() {
        return input.cases != null ? checkCases(input.cases) : routeProbs(input.probs);
    }

    /** "score" + --gamma -> "score@1.5", with the options that were given; Policy.parse judges the result. */
    String policySpec() {
        if (strategy == null) throw new IllegalArgumentException("--strategy is required with --probs (e.g. --strategy score --gamma 1.5)");
        String s = strategy.strip();
        if (s.contains("@") || s.equals("none")) return s;
        StringBuilder sb = new StringBuilder(s).append('@').append(s.equals("expert_drop") ? rho : gamma);
        if (seed != null) sb.append(":seed=").append(seed);
        if (local != null) sb.append(":local=").append(local);
        if (m != null) sb.append(":m=").append(m);
        return sb.toString();
    }

    private int routeProbs(Path file) {
        RoutingJson.Probs p = RoutingJson.readProbs(file);
        Policy policy = Policy.parse(policySpec());
        if (topK > p.experts()) {
            throw new IllegalArgumentException("--top-k " + topK + " exceeds the " + p.experts() + " experts in " + file + " (pass --top-k)");
        }
        if (placement != null && placementFile != null) throw new IllegalArgumentException("give --placement or --placement-file, not both");
        Placement place = placement != null ? Placement.parse(placement, p.experts())
                : placementFile != null ? Placement.read(placementFile, p.experts())
                : Placement.contiguous(p.experts(), devices != null ? devices : Math.min(8, p.experts()));
        Router router = new Router(RouterConfig.softmax(p.experts(), topK, renormalize), policy, place);
        Routing r = router.routeProbabilities(p.values(), p.tokens(), null);
        print(spec.commandLine().getOut(), file, policy, place, r);
        return 0;
    }

    private static void print(PrintWriter out, Path file, Policy policy, Placement place, Routing r) {
        RoutingStats s = r.stats();
        int T = r.tokens(), E = r.experts();
        out.printf(Locale.ROOT, "%s: T=%d tokens, E=%d experts, top-%d, policy %s, %d devices%n%n",
                file, T, E, s.pairsBefore() / Math.max(T, 1), policy.label(), place.devices());
        out.printf("%-8s %-7s %8s %8s %8s%n", "expert", "device", "before", "after", "dropped");
        for (int e = 0; e < E; e++) {
            out.printf(Locale.ROOT, "%-8d %-7d %8d %8d %8d%n", e, place.device(e), s.loadBefore()[e], s.loadAfter()[e],
                    Math.max(0, s.loadBefore()[e] - s.loadAfter()[e]));
        }
        out.println();
        out.printf("%-8s %-7s %8s %8s%n", "device", "experts", "before", "after");
        int[] n = place.expertsPerDevice();
        for (int d = 0; d < place.devices(); d++) {
            out.printf(Locale.ROOT, "%-8d %-7d %8d %8d%n", d, n[d], s.deviceLoadBefore()[d], s.deviceLoadAfter()[d]);
        }
        out.println();
        boolean hasCapacity = !(policy instanceof Policy.None || policy instanceof Policy.ExpertDrop);
        out.printf(Locale.ROOT, "capacity C: %s%n", hasCapacity ? Integer.toString(s.capacity()) : "- (no capacity)");
        out.printf(Locale.ROOT, "dropped: %d of %d top-k pairs (%.2f%%)%s%n", s.droppedPairs(), s.pairsBefore(),
                100 * s.droppedFraction(), s.addedPairs() > 0 ? ", added " + s.addedPairs() + " expanded pairs" : "");
        out.printf(Locale.ROOT, "tokens with no expert left: %d of %d%n", s.tokensWithoutExperts(), T);
        out.printf(Locale.ROOT, "max/mean load per expert: %.2f -> %.2f, per device: %.2f -> %.2f%n",
                s.expertImbalanceBefore(), s.expertImbalanceAfter(), s.deviceImbalanceBefore(), s.deviceImbalanceAfter());
        out.printf(Locale.ROOT, "EP speedup bound (max device load before/after): %d / %d = %.2fx%n",
                s.maxDeviceLoadBefore(), s.maxDeviceLoadAfter(), s.speedupBound());
        out.flush();
    }

    private int checkCases(Path file) {
        List<GoldenCase> cases = RoutingJson.readCases(file);
        PrintWriter out = spec.commandLine().getOut();
        int passed = 0, failed = 0;
        for (GoldenCase c : cases) {
            List<String> diff;
            try {
                diff = c.compare(c.run(), tolerance);
            } catch (IllegalArgumentException e) {
                diff = List.of(c.name() + ": " + e.getMessage());
            }
            if (diff.isEmpty()) {
                passed++;
            } else {
                failed++;
                for (String d : diff) out.println("MISMATCH " + d + "   " + c.describe());
            }
        }
        out.printf("%d passed, %d failed%n", passed, failed);
        out.flush();
        return failed == 0 ? 0 : 1;
    }
}
