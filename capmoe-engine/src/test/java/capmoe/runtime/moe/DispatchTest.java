package capmoe.runtime.moe;

import capmoe.routing.Routing;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * {@link Dispatch#select} (a replicated device's share): slot i of the result is the i-th kept
 * slot of the original, with its expert, token and weight; unkept experts get empty groups.
 */
class DispatchTest {

    @Test
    void aSelectionKeepsEachSlotsExpertTokenAndWeight() {
        // 4 tokens over 3 experts: t0 -> {0, 2}, t1 -> {0, 1}, t2 -> {2}, t3 -> {0, 2}
        int[] offsets = {0, 2, 4, 5, 7};
        int[] ids = {0, 2, 0, 1, 2, 0, 2};
        float[] w = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f};
        Dispatch d = Dispatch.sort(new Routing(4, 3, offsets, ids, w, null), 3);
        // slots: expert 0 = t0, t1, t3 (0..2); expert 1 = t1 (3); expert 2 = t0, t2, t3 (4..6)
        int[] keep = {1, 4, 6};
        Dispatch s = d.select(keep, keep.length);
        assertEquals(3, s.pairs());
        assertEquals(1, s.rows(0));
        assertEquals(0, s.rows(1));
        assertEquals(2, s.rows(2));
        for (int i = 0; i < keep.length; i++) {
            assertEquals(d.token(keep[i]), s.token(i), "token of kept slot " + i);
            assertEquals(d.weight(keep[i]), s.weight(i), "weight of kept slot " + i);
        }
        assertEquals(0, d.select(keep, 0).pairs());
        assertThrows(IllegalArgumentException.class, () -> d.select(new int[] {4, 1}, 2));
        assertThrows(IllegalArgumentException.class, () -> d.select(new int[] {7}, 1));
    }
}
