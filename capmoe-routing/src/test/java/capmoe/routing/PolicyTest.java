package capmoe.routing;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.junit.jupiter.api.Assertions.*;

/** The policy spec grammar documented on {@link Policy}: parsing, labels, and every bad spec. */
class PolicyTest {

    @Test
    void parsesEveryForm() {
        assertEquals(new Policy.None(), Policy.parse("none"));
        assertEquals(new Policy.TokenDrop(Scorer.SCORE, 1.5, 0), Policy.parse("score@1.5"));
        assertEquals(new Policy.TokenDrop(Scorer.ORDER, 1.0, 0), Policy.parse("order@1"));
        assertEquals(new Policy.TokenDrop(Scorer.REVERSE, 2.0, 0), Policy.parse("reverse@2.0"));
        assertEquals(new Policy.TokenDrop(Scorer.RANDOM, 1.0, 0), Policy.parse("random@1.0"));
        assertEquals(new Policy.TokenDrop(Scorer.RANDOM, 1.0, 42), Policy.parse("random@1.0:seed=42"));
        assertEquals(new Policy.ExpandedDrop(1.5, null), Policy.parse("expanded@1.5"));
        assertEquals(new Policy.ExpandedDrop(1.5, new int[] {0, 1, 2, 3, 4, 5, 6, 7}), Policy.parse("expanded@1.5:local=0-7"));
        assertEquals(new Policy.ExpandedDrop(1.5, new int[] {0, 3, 5}), Policy.parse("expanded@1.5:local=0,3,5"));
        assertEquals(new Policy.ExpandedDrop(1.5, new int[] {0, 1, 2, 9}), Policy.parse("expanded@1.5:local=0-2,9"));
        assertEquals(new Policy.ExpandedOrigin(1.5, Policy.ExpandedOrigin.DEFAULT_M), Policy.parse("expanded_origin@1.5"));
        assertEquals(new Policy.ExpandedOrigin(1.5, 2), Policy.parse("expanded_origin@1.5:m=2"));
        assertEquals(new Policy.DeviceCapacity(1.0), Policy.parse("device@1.0"));
        assertEquals(new Policy.ExpertDrop(0.1), Policy.parse("expert_drop@0.1"));
        assertEquals(new Policy.TokenDrop(Scorer.SCORE, Double.POSITIVE_INFINITY, 0), Policy.parse("score@Infinity"));
    }

    @Test
    void acceptsTheOfficialNamesAsAliases() {
        assertEquals(Policy.parse("order@1.0"), Policy.parse("first@1.0"));
        assertEquals(Policy.parse("reverse@1.0"), Policy.parse("last@1.0"));
        assertEquals(Policy.parse("expanded@1.0"), Policy.parse("overselect@1.0"));
        assertEquals("order@1.0", Policy.parse("first@1").label());
    }

    @ParameterizedTest
    @ValueSource(strings = {"none", "score@1.5", "order@1.0", "reverse@0.25", "random@1.0", "random@1.0:seed=7",
            "random@2.0:seed=-3", "expanded@1.5", "expanded@1.5:local=0-7", "expanded@1.0:local=3,5-9,1",
            "expanded_origin@1.5", "expanded_origin@1.5:m=0", "expanded_origin@2.0:m=4", "device@1.0",
            "expert_drop@0.1", "expert_drop@0.0", "score@Infinity", "score@1.0E-4"})
    void labelsRoundTrip(String spec) {
        Policy p = Policy.parse(spec);
        assertEquals(spec, p.label());
        assertEquals(p, Policy.parse(p.label()));
    }

    @Test
    void theSeedOnlyBelongsToRandom() {
        assertEquals(new Policy.TokenDrop(Scorer.SCORE, 1.0, 0), new Policy.TokenDrop(Scorer.SCORE, 1.0, 99));
        assertEquals("score@1.0", new Policy.TokenDrop(Scorer.SCORE, 1.0, 99).label());
    }

    @Test
    void defaultsResolveAgainstTheRouter() {
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6, 7}, new Policy.ExpandedDrop(1.0).localExpertsFor(64));
        assertArrayEquals(new int[] {0, 1, 2, 3}, new Policy.ExpandedDrop(1.0).localExpertsFor(4));
        assertEquals(8, new Policy.ExpandedOrigin(1.0).extrasFor(8));
        assertEquals(2, new Policy.ExpandedOrigin(1.0, 2).extrasFor(8));
    }

    static void rejects(String spec, String expectedFragment) {
        var e = assertThrows(IllegalArgumentException.class, () -> Policy.parse(spec), spec);
        assertTrue(e.getMessage().contains(expectedFragment), "message for '" + spec + "': " + e.getMessage());
        assertTrue(e.getMessage().contains("expected one of"), "the message lists the grammar: " + e.getMessage());
    }

    @Test
    void rejectsUnknownStrategies() {
        rejects("capacity@1.0", "unknown strategy 'capacity'");
        rejects("scores", "unknown strategy 'scores'");
    }

    @Test
    void rejectsMissingOrBadNumbers() {
        rejects("score", "needs a capacity factor gamma");
        rejects("score@", "needs a capacity factor gamma");
        rejects("expert_drop", "needs a drop ratio rho");
        rejects("score@abc", "'abc' is not a number");
        rejects("none@1.0", "takes no gamma");
        rejects("", "empty policy spec");
    }

    @Test
    void rejectsGammaAtOrBelowZeroAndNaN() {
        rejects("score@0", "gamma must be > 0");
        rejects("device@-1.5", "gamma must be > 0");
        rejects("expanded@NaN", "gamma must be > 0");
        assertThrows(IllegalArgumentException.class, () -> new Policy.TokenDrop(Scorer.ORDER, 0.0, 0));
        assertThrows(IllegalArgumentException.class, () -> new Policy.DeviceCapacity(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> new Policy.ExpandedOrigin(-1, 2));
    }

    @Test
    void rejectsRhoOutsideZeroToOne() {
        rejects("expert_drop@1.5", "rho must be in [0, 1]");
        rejects("expert_drop@-0.1", "rho must be in [0, 1]");
    }

    @Test
    void rejectsOptionsThatDoNotApply() {
        rejects("score@1.0:seed=3", "option 'seed=3' does not apply to 'score'");
        rejects("expanded@1.0:m=2", "does not apply");
        rejects("expanded_origin@1.0:local=0-3", "does not apply");
        rejects("random@1.0:seed=x", "seed= needs an integer");
        rejects("expanded_origin@1.0:m=-1", "m must be >= 0");
    }

    @Test
    void rejectsBadLocalLists() {
        rejects("expanded@1.0:local=", "local= needs expert ids");
        rejects("expanded@1.0:local=0,x", "'x' is not an expert id");
        rejects("expanded@1.0:local=5-2", "range '5-2' is empty");
        rejects("expanded@1.0:local=-1", "negative");
        rejects("expanded@1.0:local=1,2,1", "listed twice");
    }

    @Test
    void theBaselineNoneIsAddedFirstWhenMissingAndMovedFirstWhenElsewhere() {
        assertEquals(List.of("none", "score@1.5"), Policy.withBaseline(List.of("score@1.5")).stream().map(Policy::label).toList());
        assertEquals(List.of("none", "score@1.5", "order@1.0"),
                Policy.withBaseline(List.of("score@1.5", "none", "order@1.0", "score@1.5")).stream().map(Policy::label).toList());
        assertEquals(List.of("none"), Policy.withBaseline(List.of()).stream().map(Policy::label).toList());
    }
}
