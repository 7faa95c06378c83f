package capmoe.routing;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * A capacity policy applied after the router's top-k choice (He et al., "Capacity-Aware
 * Inference", ICLR 2026). Exact semantics: {@code ../shared/fixtures/routing/README.md}.
 *
 * <p>Capacity: {@code C = ceil(gamma * top_k * (T / E))}, computed in double in exactly that
 * order (as the paper's official code does), T = tokens of the call, E = experts.
 *
 * <p>Spec strings, as used on the command line ({@code G} = gamma &gt; 0, may be {@code Infinity};
 * {@code R} = rho in [0, 1]):
 * <pre>
 *   none                          plain top-k, no capacity
 *   score@G                       Token Drop, keep the C highest gate scores per expert
 *   order@G                       Token Drop, keep the C earliest tokens   (official: first)
 *   reverse@G                     Token Drop, keep the C latest tokens     (official: last)
 *   random@G[:seed=N]             Token Drop, keep C uniformly random tokens (seed default 0)
 *   expanded@G[:local=LIST]       Expanded Drop (official: overselect): every token also lists the
 *                                 local experts, then score@G. LIST = ids and ranges, "0-7" or
 *                                 "0,3,5" or "0-3,8"; default: experts 0..min(8,E)-1 (the official
 *                                 code's single local list). Ids are checked against E by the Router.
 *   expanded_origin@G[:m=N]       Expanded Drop, expert-parallel form: each token adds the m
 *                                 highest-scored experts of its origin device (default m = top_k)
 *   device@G                      device-level capacity: a device with n experts keeps n*C pairs
 *   expert_drop@R                 baseline: skip the floor(R*E) least-loaded experts
 * </pre>
 * The official names {@code first}, {@code last} and {@code overselect} are accepted as aliases.
 * {@link #label()} prints the canonical spec and round-trips: {@code parse(p.label()).equals(p)}.
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

    /**
     * Token Drop: each expert keeps at most C = ceil(gamma*k*T/E) of its tokens, chosen by the scorer.
     * The seed only matters for {@link Scorer#RANDOM}; for the other scorers it is normalised to 0
     * so that equal policies compare equal.
     */
    record TokenDrop(Scorer scorer, double gamma, long seed) implements Policy {
        public TokenDrop {
            if (scorer == null) throw new IllegalArgumentException("Token Drop needs a scorer (score, order, reverse, random)");
            PolicySpec.checkGamma(gamma, scorer.id());
            if (scorer != Scorer.RANDOM) seed = 0;
        }

        public TokenDrop(Scorer scorer, double gamma) { this(scorer, gamma, 0L); }

        public String label() {
            String s = scorer.id() + "@" + PolicySpec.num(gamma);
            return scorer == Scorer.RANDOM && seed != 0 ? s + ":seed=" + seed : s;
        }
    }

    /**
     * Expanded Drop with one fixed list of local experts added to every token's candidates.
     * {@code localExperts == null} means the official default, experts 0..min(8,E)-1.
     */
    record ExpandedDrop(double gamma, int[] localExperts) implements Policy {
        public ExpandedDrop {
            PolicySpec.checkGamma(gamma, "expanded");
            if (localExperts != null) {
                localExperts = localExperts.clone();
                for (int i = 0; i < localExperts.length; i++) {
                    if (localExperts[i] < 0) {
                        throw new IllegalArgumentException("expanded: local expert id " + localExperts[i] + " is negative");
                    }
                    for (int j = 0; j < i; j++) {
                        if (localExperts[j] == localExperts[i]) {
                            throw new IllegalArgumentException("expanded: local expert " + localExperts[i] + " is listed twice");
                        }
                    }
                }
            }
        }

        /** Expanded Drop with the official default local list. */
        public ExpandedDrop(double gamma) { this(gamma, null); }

        /** The local list for E experts (the default list resolved). */
        public int[] localExpertsFor(int experts) {
            if (localExperts != null) return localExperts.clone();
            int n = Math.min(8, experts);
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) ids[i] = i;
            return ids;
        }

        public String label() {
            String s = "expanded@" + PolicySpec.num(gamma);
            return localExperts == null ? s : s + ":local=" + PolicySpec.idList(localExperts);
        }

        @Override public int[] localExperts() { return localExperts == null ? null : localExperts.clone(); }

        @Override public boolean equals(Object o) {
            return o instanceof ExpandedDrop other
                    && Double.compare(gamma, other.gamma) == 0
                    && Arrays.equals(localExperts, other.localExperts);
        }

        @Override public int hashCode() { return Double.hashCode(gamma) * 31 + Arrays.hashCode(localExperts); }

        @Override public String toString() { return "ExpandedDrop[" + label() + "]"; }
    }

    /**
     * Expanded Drop, expert-parallel form: m extra experts from the token's origin device.
     * {@code m == DEFAULT_M} means m = top_k of the router.
     */
    record ExpandedOrigin(double gamma, int m) implements Policy {
        /** m = the router's top_k. */
        public static final int DEFAULT_M = -1;

        public ExpandedOrigin {
            PolicySpec.checkGamma(gamma, "expanded_origin");
            if (m < 0 && m != DEFAULT_M) throw new IllegalArgumentException("expanded_origin: m must be >= 0 (got " + m + ")");
        }

        public ExpandedOrigin(double gamma) { this(gamma, DEFAULT_M); }

        /** The number of extras for a router choosing top_k experts. */
        public int extrasFor(int topK) { return m == DEFAULT_M ? topK : m; }

        public String label() {
            String s = "expanded_origin@" + PolicySpec.num(gamma);
            return m == DEFAULT_M ? s : s + ":m=" + m;
        }
    }

    /** Device-level capacity: a device with n experts keeps at most n*C pairs, the highest-scored. */
    record DeviceCapacity(double gamma) implements Policy {
        public DeviceCapacity { PolicySpec.checkGamma(gamma, "device"); }

        public String label() { return "device@" + PolicySpec.num(gamma); }
    }

    /** Baseline: skip the floor(rho*E) least-loaded experts entirely (ties: lower expert index first). */
    record ExpertDrop(double rho) implements Policy {
        public ExpertDrop {
            if (!(rho >= 0 && rho <= 1)) {
                throw new IllegalArgumentException("expert_drop: rho must be in [0, 1] (got " + rho + ")");
            }
        }

        public String label() { return "expert_drop@" + PolicySpec.num(rho); }
    }

    /** Parses a spec string such as {@code score@1.5}; throws IllegalArgumentException with a clear message. */
    static Policy parse(String spec) { return PolicySpec.parse(spec); }

    /**
     * The one rule for the baseline of every comparison: parses the specs, puts {@code none} first
     * (added when missing, moved to the front when given elsewhere) and drops repeated specs.
     * Every speedup and "vs none" column is relative to this first entry.
     */
    static List<Policy> withBaseline(List<String> specs) {
        LinkedHashMap<String, Policy> byLabel = new LinkedHashMap<>();
        byLabel.put("none", new None());
        for (String s : specs) {
            Policy p = parse(s);
            byLabel.putIfAbsent(p.label(), p);
        }
        return List.copyOf(byLabel.values());
    }
}
