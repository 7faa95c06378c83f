package capmoe.runtime.dist;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SequenceSplitTest {

    @Test
    void contiguousBlocksCoverEverySequenceOnceAndDifferByAtMostOne() {
        for (int b = 0; b <= 40; b++) {
            for (int d = 1; d <= 9; d++) {
                SequenceSplit s = new SequenceSplit(b, d);
                assertEquals(0, s.first(0));
                assertEquals(b, s.first(d));
                int min = Integer.MAX_VALUE, max = 0;
                for (int r = 0; r < d; r++) {
                    min = Math.min(min, s.count(r));
                    max = Math.max(max, s.count(r));
                    for (int q = s.first(r); q < s.first(r + 1); q++) assertEquals(r, s.rankOf(q), "B=" + b + " D=" + d + " seq " + q);
                }
                assertTrue(max - min <= 1, "B=" + b + " D=" + d);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new SequenceSplit(3, 2).rankOf(3));
    }

    @Test
    void capacityScopeParsesItsFlagValuesAndNamesTheFlagOtherwise() {
        assertEquals(CapacityScope.GLOBAL, CapacityScope.parse("global"));
        assertEquals(CapacityScope.LOCAL, CapacityScope.parse("local"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CapacityScope.parse("rank"));
        assertEquals("--capacity-scope: 'rank' is not one of global, local", e.getMessage());
    }
}
