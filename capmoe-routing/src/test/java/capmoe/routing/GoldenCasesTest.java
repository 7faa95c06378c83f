package capmoe.routing;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Every case of ../shared/fixtures/routing/cases.json, reproduced exactly: same kept experts per
 * token, same loads, same capacity, weights to 1e-6. The expected weights are float32
 * probabilities printed as doubles (renormalised ones divided in float32), so float arithmetic
 * lands within a few ulps of 1.0, far below 1e-6.
 */
class GoldenCasesTest {
    static final double WEIGHT_TOLERANCE = 1e-6;

    @Test
    void everyGoldenCaseIsReproducedExactly() {
        List<GoldenCase> cases = GoldenCases.load();
        assertEquals(155, cases.size(), "cases.json should hold 155 cases");
        List<String> mismatches = new ArrayList<>();
        for (GoldenCase c : cases) mismatches.addAll(c.compare(c.run(), WEIGHT_TOLERANCE));
        assertTrue(mismatches.isEmpty(), mismatches.size() + " mismatches, first: "
                + mismatches.subList(0, Math.min(10, mismatches.size())));
    }

    @Test
    void everyStrategyOfTheFileIsCovered() {
        var strategies = GoldenCases.load().stream().map(GoldenCase::strategy).distinct().sorted().toList();
        assertEquals(List.of("device", "expanded", "expanded_origin", "expert_drop", "none", "order", "reverse", "score"), strategies);
    }

    /** The checker itself must notice a wrong answer, or the test above proves nothing. */
    @Test
    void theComparisonReportsEveryKindOfDifference() {
        GoldenCase c = GoldenCases.load().get(0);
        Routing r = c.run();
        assertEquals(List.of(), c.compare(r, WEIGHT_TOLERANCE));

        int[] load = r.stats().loadAfter().clone();
        load[0]++;
        RoutingStats s = r.stats();
        Routing wrongLoad = new Routing(r.tokens(), r.experts(), r.offsets(), r.expertIds(), r.weights(),
                new RoutingStats(s.capacity() + 1, s.loadBefore(), load, s.deviceLoadBefore(), s.deviceLoadAfter(),
                        s.droppedPairs(), s.addedPairs(), s.tokensWithoutExperts()));
        List<String> diff = c.compare(wrongLoad, WEIGHT_TOLERANCE);
        assertTrue(diff.stream().anyMatch(d -> d.contains("capacity")), diff.toString());
        assertTrue(diff.stream().anyMatch(d -> d.contains("load")), diff.toString());

        float[] w = r.weights().clone();
        int t = firstTokenWithExperts(r);
        w[r.offsets()[t]] += 2e-6f;
        diff = c.compare(new Routing(r.tokens(), r.experts(), r.offsets(), r.expertIds(), w, s), WEIGHT_TOLERANCE);
        assertEquals(1, diff.size(), diff.toString());
        assertTrue(diff.get(0).contains("token " + t + " expert"), diff.get(0));

        int[] ids = r.expertIds().clone();
        ids[r.offsets()[t]] = (ids[r.offsets()[t]] + 1) % r.experts();
        diff = c.compare(new Routing(r.tokens(), r.experts(), r.offsets(), ids, r.weights(), s), WEIGHT_TOLERANCE);
        assertTrue(diff.stream().anyMatch(d -> d.contains("token " + t + " kept experts")), diff.toString());
    }

    @Test
    void unknownStrategyInACaseIsRejected() {
        GoldenCase c = GoldenCases.load().get(0);
        GoldenCase bad = new GoldenCase("case x", c.probs(), c.tokens(), c.experts(), c.topK(), c.gamma(), "overflow",
                false, Double.NaN, 0, null, null, null, c.expected());
        var e = assertThrows(IllegalArgumentException.class, bad::policy);
        assertTrue(e.getMessage().contains("unknown strategy 'overflow'"), e.getMessage());
    }

    private static int firstTokenWithExperts(Routing r) {
        for (int t = 0; t < r.tokens(); t++) if (r.keptCount(t) > 0) return t;
        throw new AssertionError("no token kept an expert: " + Arrays.toString(r.offsets()));
    }
}
