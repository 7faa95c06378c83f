package capmoe.routing;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One case in the format of {@code ../shared/fixtures/routing/cases.json} (see the README
 * beside it): gate probabilities, the strategy and its fields, and the expected outcome. Runs the
 * case through a {@link Router} and lists every difference; shared by the tests and
 * {@code ./capmoe route --cases} so both judge the same way. Parsing JSON is the caller's job
 * (this library has no dependencies).
 *
 * @param probs        T x E probabilities, row-major
 * @param rho          expert_drop only (NaN otherwise)
 * @param m            expanded_origin only (0 otherwise)
 * @param localExperts expanded only (null otherwise)
 * @param placement    device of each expert, device / expanded_origin only (null otherwise)
 * @param tokenOrigin  origin device of each token, expanded_origin only (null otherwise)
 */
public record GoldenCase(String name, float[] probs, int tokens, int experts, int topK, double gamma,
                         String strategy, boolean renormalize, double rho, int m, int[] localExperts,
                         int[] placement, int[] tokenOrigin, Expected expected) {

    /** The expected outcome: per-token kept experts (ascending) and weights, per-expert load. */
    public record Expected(int capacity, int[] load, int keptPairs, int[][] experts, double[][] weights) { }

    /** The policy the case's strategy names; unknown names are rejected. */
    public Policy policy() {
        return switch (strategy) {
            case "none" -> new Policy.None();
            case "score" -> new Policy.TokenDrop(Scorer.SCORE, gamma);
            case "order" -> new Policy.TokenDrop(Scorer.ORDER, gamma);
            case "reverse" -> new Policy.TokenDrop(Scorer.REVERSE, gamma);
            case "random" -> new Policy.TokenDrop(Scorer.RANDOM, gamma);
            case "expanded" -> new Policy.ExpandedDrop(gamma, require(localExperts, "local_experts"));
            case "expanded_origin" -> new Policy.ExpandedOrigin(gamma, m);
            case "device" -> new Policy.DeviceCapacity(gamma);
            case "expert_drop" -> new Policy.ExpertDrop(rho);
            default -> throw new IllegalArgumentException(name + ": unknown strategy '" + strategy
                    + "' (known: none, score, order, reverse, random, expanded, expanded_origin, device, expert_drop)");
        };
    }

    /** Softmax router with the case's top_k and renormalisation, and its placement (one device if none). */
    public Router router() {
        RouterConfig config = RouterConfig.softmax(experts, topK, renormalize);
        Placement p = placement == null ? null : Placement.of(placement);
        if (p != null && p.experts() != experts) {
            throw new IllegalArgumentException(name + ": placement has " + p.experts() + " entries for " + experts + " experts");
        }
        return new Router(config, policy(), p);
    }

    public Routing run() {
        return router().routeProbabilities(probs, tokens, tokenOrigin);
    }

    /** Every difference between the routing and the expected outcome; weights compared to {@code tolerance}. */
    public List<String> compare(Routing r, double tolerance) {
        List<String> out = new ArrayList<>();
        if (r.stats().capacity() != expected.capacity()) {
            out.add(name + ": capacity " + r.stats().capacity() + ", expected " + expected.capacity());
        }
        if (!Arrays.equals(r.stats().loadAfter(), expected.load())) {
            out.add(name + ": load " + Arrays.toString(r.stats().loadAfter()) + ", expected " + Arrays.toString(expected.load()));
        }
        if (r.keptPairs() != expected.keptPairs()) {
            out.add(name + ": kept pairs " + r.keptPairs() + ", expected " + expected.keptPairs());
        }
        if (expected.experts().length != tokens) {
            out.add(name + ": expected lists " + expected.experts().length + " tokens, the case has " + tokens);
            return out;
        }
        for (int t = 0; t < tokens; t++) {
            int[] got = Arrays.copyOfRange(r.expertIds(), r.offsets()[t], r.offsets()[t + 1]);
            if (!Arrays.equals(got, expected.experts()[t])) {
                out.add(name + ": token " + t + " kept experts " + Arrays.toString(got)
                        + ", expected " + Arrays.toString(expected.experts()[t]));
                continue;
            }
            for (int i = 0; i < got.length; i++) {
                float w = r.weights()[r.offsets()[t] + i];
                double x = expected.weights()[t][i];
                if (!(Math.abs(w - x) <= tolerance)) {
                    out.add(name + ": token " + t + " expert " + got[i] + " weight " + w + ", expected " + x
                            + " (|diff| " + Math.abs(w - x) + " > " + tolerance + ")");
                }
            }
        }
        return out;
    }

    /** A short description: index-free name plus shape and strategy. */
    public String describe() {
        return name + " [" + strategy + (strategy.equals("expert_drop") ? " rho=" + rho : " gamma=" + gamma)
                + (renormalize ? " renorm" : "") + ", T=" + tokens + " E=" + experts + " k=" + topK + "]";
    }

    private <T> T require(T v, String key) {
        if (v == null) throw new IllegalArgumentException(name + ": strategy '" + strategy + "' needs '" + key + "'");
        return v;
    }
}
