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
 *                                 (Megatron/DeepSpeed drop policy "probs")
 *   score@auto:mass=M             Token Drop with C chosen per call: the smallest C whose dropped
 *                                 gate-score mass is at most M of the call's top-k mass ({@link Gamma.Auto})
 *   score@layers:FILE             Token Drop with one gamma per MoE layer, from FILE ({@link Gamma.PerLayer})
 *   order@G                       Token Drop, keep the C earliest tokens   (official: first;
 *                                 Megatron/DeepSpeed: "position")
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
 *   replicate@N[+POLICY]          N redundant expert replicas per layer placed by EPLB
 *                                 ({@link Eplb}), then POLICY (default none); see {@link Replicated}
 * </pre>
 * Token Drop takes {@code :min_capacity=N} (DeepSpeed's {@code min_capacity}: C is at least N).
 * Every capacity is clamped to the call's tokens, {@code C <= T} (an expert never holds more).
 * The official names {@code first}, {@code last} and {@code overselect}, and Megatron's
 * {@code probs} and {@code position}, are accepted as aliases.
 * {@link #label()} prints the canonical spec and round-trips: {@code parse(p.label()).equals(p)}.
 */
public sealed interface Policy
        permits Policy.None, Policy.TokenDrop, Policy.ExpandedDrop, Policy.ExpandedOrigin,
                Policy.DeviceCapacity, Policy.ExpertDrop, Policy.Replicated {

    /** Short label, parseable by {@link #parse}. */
    String label();

    /** Plain top-k routing: no capacity. */
    record None() implements Policy {
        public String label() { return "none"; }
    }

    /**
     * Token Drop: each expert keeps at most C of its tokens, chosen by the scorer; C comes from
     * {@code gamma} ({@link Gamma}), is at least {@code minCapacity} (DeepSpeed's
     * {@code min_capacity}, 0 = none) and at most the call's T.
     * The seed only matters for {@link Scorer#RANDOM}; for the other scorers it is normalised to 0
     * so that equal policies compare equal.
     */
    record TokenDrop(Scorer scorer, Gamma gamma, long seed, int minCapacity) implements Policy {
        public TokenDrop {
            if (scorer == null) throw new IllegalArgumentException("Token Drop needs a scorer (score, order, reverse, random)");
            if (gamma == null) throw new IllegalArgumentException(scorer.id() + ": capacity factor gamma is missing");
            if (gamma instanceof Gamma.Auto && scorer != Scorer.SCORE) {
                throw new IllegalArgumentException(scorer.id() + "@auto: the per-call capacity is defined by dropped score mass, so only score@auto exists");
            }
            if (minCapacity < 0) throw new IllegalArgumentException(scorer.id() + ": min_capacity must be >= 0 (got " + minCapacity + ")");
            if (scorer != Scorer.RANDOM) seed = 0;
        }

        public TokenDrop(Scorer scorer, double gamma) { this(scorer, new Gamma.Fixed(gamma), 0L, 0); }

        public TokenDrop(Scorer scorer, double gamma, long seed) { this(scorer, new Gamma.Fixed(gamma), seed, 0); }

        public String label() {
            String s = scorer.id() + "@" + gamma.label();
            if (scorer == Scorer.RANDOM && seed != 0) s += ":seed=" + seed;
            return minCapacity == 0 ? s : s + ":min_capacity=" + minCapacity;
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

    /**
     * Replication (DeepSeek's EPLB, as vLLM {@code --enable-eplb} and SGLang deploy it) combined
     * with a capacity policy: {@code redundant} extra expert replicas per MoE layer, placed by
     * {@link Eplb} from a routing trace's loads, then {@code policy} exactly as without replicas.
     * The policy decides which (token, expert) pairs are kept, per logical expert (C counts all
     * of an expert's replicas together); the placement then decides which replica runs each kept
     * pair ({@link Placement#device(int, int)}: replica {@code t mod r} of the expert's r, token t).
     * The outputs are those of {@code policy} alone; only device loads change.
     */
    record Replicated(int redundant, Policy policy) implements Policy {
        public Replicated {
            if (redundant < 1) throw new IllegalArgumentException("replicate: the number of redundant replicas must be >= 1 (got " + redundant + ")");
            if (policy == null) policy = new None();
            if (policy instanceof Replicated) throw new IllegalArgumentException("replicate: give it once (replicate@N+POLICY)");
        }

        public String label() {
            return "replicate@" + redundant + (policy instanceof None ? "" : "+" + policy.label());
        }
    }

    /** The capacity policy a run applies: {@code policy()} of a {@link Replicated}, else itself. */
    default Policy capacityPolicy() { return this instanceof Replicated r ? r.policy() : this; }

    /** Redundant replicas per layer this spec asks for (0 = each expert once). */
    default int redundantReplicas() { return this instanceof Replicated r ? r.redundant() : 0; }

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
