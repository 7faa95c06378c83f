package capmoe.routing;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import static org.junit.jupiter.api.Assertions.*;

/** Every bad input of the library fails with a message saying what and where. */
class BadInputTest {

    static void rejects(Executable call, String... fragments) {
        var e = assertThrows(IllegalArgumentException.class, call);
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "'" + f + "' not in: " + e.getMessage());
    }

    static final RouterConfig SOFTMAX_8_2 = RouterConfig.softmax(8, 2, false);

    @Test
    void topKAboveEOrBelowOne() {
        rejects(() -> RouterConfig.softmax(8, 9, false), "top_k must be in 1..E=8", "top_k=9");
        rejects(() -> RouterConfig.softmax(8, 0, false), "top_k must be in 1..E=8");
        rejects(() -> RouterConfig.softmax(0, 1, false), "experts must be >= 1");
    }

    @Test
    void badRouterConfigs() {
        rejects(() -> new RouterConfig(8, 2, null, false, 1.0), "gating is missing");
        rejects(() -> new RouterConfig(8, 2, new Gating.Softmax(), false, 0.0), "routed_scaling_factor");
        rejects(() -> new RouterConfig(8, 2, new Gating.Softmax(), false, Double.NaN), "routed_scaling_factor");
        rejects(() -> new RouterConfig(8, 2, new Gating.SoftmaxGroupLimited(3, 1), false, 1.0), "n_group=3 does not divide the 8 experts");
        rejects(() -> new RouterConfig(8, 3, new Gating.SoftmaxGroupLimited(4, 1), false, 1.0), "top_k=3 exceeds the 2 experts");
        rejects(() -> new Gating.SoftmaxGroupLimited(4, 5), "topk_group must be in 1..n_group=4");
        rejects(() -> new Gating.SoftmaxGroupLimited(0, 1), "n_group must be >= 1");
        rejects(() -> new RouterConfig(8, 2, new Gating.SigmoidGroupLimited(1, 1, new float[7]), true, 1.0),
                "e_score_correction_bias has 7 values but there are 8 experts");
        rejects(() -> new Gating.SigmoidGroupLimited(1, 1, new float[] {0, Float.NaN}), "e_score_correction_bias[1] is NaN");
        rejects(() -> new Gating.SigmoidGroupLimited(1, 1, null), "needs e_score_correction_bias");
        rejects(() -> new RouterConfig(4, 1, new Gating.SigmoidGroupLimited(4, 1, new float[4]), true, 1.0), "groups need >= 2 experts");
    }

    @Test
    void placementSizeThatDoesNotMatchE() {
        rejects(() -> new Router(SOFTMAX_8_2, new Policy.None(), Placement.contiguous(16, 4)),
                "placement covers 16 experts but the router has 8");
        rejects(() -> new Placement(8, 2, new int[] {0, 0, 1}), "the map has 3 entries but there are 8 experts");
        rejects(() -> Placement.parse("0,0,1,1", 8), "lists 4 experts but the router has 8");
    }

    @Test
    void badPlacements() {
        rejects(() -> new Placement(4, 2, new int[] {0, 1, 2, 0}), "expert 2 is on device 2, outside 0..1");
        rejects(() -> Placement.contiguous(8, 9), "devices must be in 1..8");
        rejects(() -> Placement.contiguous(8, 0), "devices must be in 1..8");
        rejects(() -> Placement.parse("contiguous:x", 8), "not a number");
        rejects(() -> Placement.parse("0,a", 2), "not a number");
        rejects(() -> Placement.parse(" ", 2), "empty spec");
        rejects(() -> Placement.of(0, -1), "expert 1 is on device -1");
    }

    @Test
    void localExpertIdsAreCheckedAgainstE() {
        rejects(() -> new Router(SOFTMAX_8_2, Policy.parse("expanded@1.0:local=6-8"), null),
                "local expert 8 does not exist (E=8, ids 0..7)");
    }

    @Test
    void nanLogitsAndProbabilities() {
        Router r = new Router(SOFTMAX_8_2, new Policy.None(), null);
        float[] x = new float[16];
        x[11] = Float.NaN;
        rejects(() -> r.route(x, 2), "router logits: NaN at token 1, expert 3");
        x[11] = Float.POSITIVE_INFINITY;
        rejects(() -> r.route(x, 2), "router logits: Infinity at token 1, expert 3");
        float[] p = new float[16];
        p[5] = Float.NaN;
        rejects(() -> r.routeProbabilities(p, 2, null), "probabilities: NaN at token 0, expert 5", "(NaN)");
        p[5] = 1.5f;
        rejects(() -> r.routeProbabilities(p, 2, null), "1.5 at token 0, expert 5 is not in [0, 1]");
        p[5] = -0.1f;
        rejects(() -> r.routeProbabilities(p, 2, null), "is not in [0, 1]");
    }

    @Test
    void shapesThatDoNotMatch() {
        Router r = new Router(SOFTMAX_8_2, new Policy.None(), null);
        rejects(() -> r.route(new float[15], 2), "15 values, expected tokens x experts = 2 x 8 = 16");
        rejects(() -> r.route(new float[0], -1), "token count -1 is negative");
        rejects(() -> r.route(null, 1), "missing");
    }

    @Test
    void tokenOriginsOutOfRange() {
        Router r = new Router(SOFTMAX_8_2, Policy.parse("expanded_origin@1.0"), Placement.contiguous(8, 2));
        rejects(() -> r.route(new float[16], 2, new int[] {0, 2}), "token origin of token 1 is device 2, outside 0..1");
        rejects(() -> r.route(new float[16], 2, new int[] {0}), "token origins: 1 values for 2 tokens");
    }

    @Test
    void missingConfigOrPolicy() {
        rejects(() -> new Router(null, new Policy.None(), null), "config is missing");
        rejects(() -> new Router(SOFTMAX_8_2, null, null), "policy is missing");
    }
}
