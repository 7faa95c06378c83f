package capmoe.routing;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Runs several policies on the same router logits and prints one row per policy: capacity,
 * dropped pairs, max/mean load per expert and per device before/after, and the bound on the
 * expert-parallel speedup. {@code ./capmoe demo} uses it on a {@link RoutingSample}; a real model
 * run feeds each layer's logits through {@link #add} instead.
 */
public final class PolicyComparison {
    private final RouterConfig config;
    private final Placement placement;
    private final List<Router> routers = new ArrayList<>();
    private final List<LoadSummary> summaries = new ArrayList<>();

    public PolicyComparison(RouterConfig config, Placement placement, List<Policy> policies) {
        if (policies.isEmpty()) throw new IllegalArgumentException("no policies to compare");
        this.config = config;
        this.placement = placement;
        for (Policy p : policies) {
            routers.add(new Router(config, p, placement));
            summaries.add(new LoadSummary(p.label()));
        }
    }

    /** The default set: none, every Token Drop scorer, both Expanded Drops and device capacity at gamma, Expert Drop at rho. */
    public static List<Policy> defaultPolicies(double gamma, double rho) {
        return List.of(new Policy.None(),
                new Policy.TokenDrop(Scorer.SCORE, gamma), new Policy.TokenDrop(Scorer.ORDER, gamma),
                new Policy.TokenDrop(Scorer.REVERSE, gamma), new Policy.TokenDrop(Scorer.RANDOM, gamma),
                new Policy.ExpandedDrop(gamma), new Policy.ExpandedOrigin(gamma),
                new Policy.DeviceCapacity(gamma), new Policy.ExpertDrop(rho));
    }

    /** Routes one call's logits (row-major T x E) under every policy. */
    public void add(float[] routerLogits, int tokens) {
        for (int i = 0; i < routers.size(); i++) summaries.get(i).add(routers.get(i).route(routerLogits, tokens));
    }

    public List<LoadSummary> summaries() { return List.copyOf(summaries); }

    public RouterConfig config() { return config; }
    public Placement placement() { return placement; }

    /** A fixed-width table, one row per policy. */
    public String table() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-26s %9s %8s %9s %21s %21s %9s%n", "policy", "capacity", "dropped",
                "no-expert", "expert max/mean", "device max/mean", "EP bound"));
        sb.append(String.format(Locale.ROOT, "%-26s %9s %8s %9s %21s %21s %9s%n", "", "C", "pairs", "tokens",
                "before -> after", "before -> after", "speedup"));
        for (int i = 0; i < summaries.size(); i++) {
            LoadSummary s = summaries.get(i);
            Policy p = routers.get(i).policy();
            boolean hasCapacity = !(p instanceof Policy.None || p instanceof Policy.ExpertDrop);
            String cap = !hasCapacity ? "-" : s.minCapacity() == s.maxCapacity() ? Integer.toString(s.minCapacity())
                    : s.minCapacity() + ".." + s.maxCapacity();
            String dropped = String.format(Locale.ROOT, "%.1f%%", 100 * s.droppedFraction());
            String empty = String.format(Locale.ROOT, "%.1f%%", s.tokens() == 0 ? 0.0 : 100.0 * s.tokensWithoutExperts() / s.tokens());
            sb.append(String.format(Locale.ROOT, "%-26s %9s %8s %9s %9.2f -> %8.2f %9.2f -> %8.2f %8.2fx%n", s.label(), cap, dropped, empty,
                    s.meanExpertImbalanceBefore(), s.meanExpertImbalanceAfter(),
                    s.meanDeviceImbalanceBefore(), s.meanDeviceImbalanceAfter(), s.speedupBound()));
        }
        return sb.toString();
    }
}
