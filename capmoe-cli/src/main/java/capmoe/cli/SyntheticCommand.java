package capmoe.cli;

import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.PolicyComparison;
import capmoe.routing.RouterConfig;
import capmoe.routing.RoutingSample;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code ./capmoe synthetic}: every policy on a seeded, skewed routing sample, no model ({@link PolicyComparison}). */
@Command(name = "synthetic", mixinStandardHelpOptions = true,
        description = {
                "Runs every capacity policy on a built-in, seeded, skewed routing sample (no model) and prints per "
                        + "policy: capacity C = ceil(gamma*k*T/E), dropped (token, expert) pairs, tokens left with no expert, "
                        + "max/mean load per expert and per device before -> after, and the EP speedup bound.",
                "",
                "The sample behaves like a trained router at inference:",
                "  logits[t][e] = ln(w_e) + noise[t][e],",
                "  w_e ~ Pareto(alpha) per expert (heavy-tailed popularity),",
                "  noise ~ Normal(0, sigma) per token and expert",
                "(capmoe.routing.RoutingSample).",
                "",
                "EP speedup bound: under expert parallelism over D devices an MoE layer waits for its most loaded "
                        + "device, so its time is proportional to the max device load. A policy speeds the layer up at most by "
                        + "maxDeviceLoadBefore / maxDeviceLoadAfter (communication and attention are not counted: real speedups "
                        + "are lower).",
                ""})
public final class SyntheticCommand implements Callable<Integer> {

    @Spec CommandSpec spec;

    @Option(names = "--tokens", description = "tokens T in the routing call (default: ${DEFAULT-VALUE})") int tokens = 4096;
    @Option(names = "--experts", description = "experts E (default: ${DEFAULT-VALUE})") int experts = 64;
    @Option(names = {"-k", "--top-k"}, description = "experts per token k (default: ${DEFAULT-VALUE})") int topK = 8;

    @Mixin DeviceOption devices;

    @Option(names = "--gamma", description = "capacity factor of the default policies (default: ${DEFAULT-VALUE})") double gamma = 1.0;

    @Option(names = "--rho", description = "Expert Drop ratio of skipped experts in the default policies (default: ${DEFAULT-VALUE})")
    double rho = 0.1;

    @Option(names = "--policies", split = ",", paramLabel = "SPEC",
            description = "policies instead of the default set (every policy at --gamma, expert_drop at --rho); "
                    + "none, the baseline, is added first when missing")
    List<String> policies = new ArrayList<>();

    @Option(names = "--seed", description = "sample seed (default: ${DEFAULT-VALUE})") long seed = 0;

    @Option(names = "--alpha", description = "Pareto tail index of expert popularity; smaller = more skewed (default: ${DEFAULT-VALUE})")
    double alpha = RoutingSample.DEFAULT_ALPHA;

    @Option(names = "--noise", description = "per-token logit noise sigma (default: ${DEFAULT-VALUE})") double noise = RoutingSample.DEFAULT_NOISE;

    @Override
    public Integer call() {
        if (tokens < 1) throw new IllegalArgumentException("--tokens must be >= 1 (got " + tokens + ")");
        RouterConfig config = RouterConfig.softmax(experts, topK, false);
        Placement placement = Placement.contiguous(experts, devices.check(experts));
        List<Policy> list = policies.isEmpty() ? PolicyComparison.defaultPolicies(gamma, rho) : Policy.withBaseline(policies);
        RoutingSample sample = new RoutingSample(tokens, experts, seed, alpha, noise);
        PolicyComparison comparison = new PolicyComparison(config, placement, list);
        comparison.add(sample.logits(), tokens);

        PrintWriter out = spec.commandLine().getOut();
        out.printf(Locale.ROOT, "Routing sample: T=%d tokens, E=%d experts, top-%d softmax, D=%d devices (contiguous), "
                + "seed %d, popularity Pareto(alpha=%s), noise sigma=%s%n%n", tokens, experts, topK, placement.devices(), seed, alpha, noise);
        out.print(comparison.table());
        out.println();
        out.println("dropped = top-k pairs removed; no-expert = tokens that lost every expert (the residual carries them);");
        out.println("EP bound = max device load before / after (the layer waits for its busiest device).");
        out.flush();
        return 0;
    }
}
