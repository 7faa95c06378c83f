package capmoe.routing;

/**
 * A capacity policy applied after the router's top-k choice (He et al., "Capacity-Aware
 * Inference", ICLR 2026). Exact semantics: {@code ../shared/fixtures/routing/README.md}.
 *
 * <p>Spec strings, as used on the command line: {@code none}, {@code score@1.5},
 * {@code order@1.0}, {@code reverse@1.0}, {@code random@1.0}, {@code expanded@1.5},
 * {@code expanded_origin@1.5}, {@code device@1.0}, {@code expert_drop@0.1}.
 */
public sealed interface Policy
        permits Policy.None, Policy.TokenDrop, Policy.ExpandedDrop, Policy.ExpandedOrigin,
                Policy.DeviceCapacity, Policy.ExpertDrop {

    /** Short label, parseable by {@link #parse}. */
    String label();

    /** Plain top-k routing: no capacity. */
    record None() implements Policy {
        public String label() { return "none"; }
    }

    /** Token Drop: each expert keeps at most C = ceil(gamma*k*T/E) of its tokens, chosen by the scorer. */
    record TokenDrop(Scorer scorer, double gamma, long seed) implements Policy {
        public String label() { return scorer.id() + "@" + PolicySpec.num(gamma); }
    }

    /** Expanded Drop with one fixed list of local experts added to every token's candidates. */
    record ExpandedDrop(double gamma, int[] localExperts) implements Policy {
        public String label() { return "expanded@" + PolicySpec.num(gamma); }
    }

    /** Expanded Drop, expert-parallel form: m extra experts from the token's origin device. */
    record ExpandedOrigin(double gamma, int m) implements Policy {
        public String label() { return "expanded_origin@" + PolicySpec.num(gamma); }
    }

    /** Device-level capacity: a device with n experts keeps at most n*C pairs, the highest-scored. */
    record DeviceCapacity(double gamma) implements Policy {
        public String label() { return "device@" + PolicySpec.num(gamma); }
    }

    /** Baseline: skip the floor(rho*E) least-loaded experts entirely. */
    record ExpertDrop(double rho) implements Policy {
        public String label() { return "expert_drop@" + PolicySpec.num(rho); }
    }

    /** Parses a spec string such as {@code score@1.5}; throws IllegalArgumentException with a clear message. */
    static Policy parse(String spec) { return PolicySpec.parse(spec); }
}
