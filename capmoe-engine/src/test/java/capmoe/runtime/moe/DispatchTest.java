package capmoe.runtime.moe;

import capmoe.routing.Routing;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    @Test
    void byWeightEachTokensSlotsGoInDescendingWeightTiesAscending() {
        // t0 -> {0: 0.1, 1: 0.5, 2: 0.3}, t1 -> {0: 0.2, 2: 0.2}, t2 -> {1: 0.9}
        int[] offsets = {0, 3, 5, 6};
        int[] ids = {0, 1, 2, 0, 2, 1};
        float[] w = {0.1f, 0.5f, 0.3f, 0.2f, 0.2f, 0.9f};
        Routing r = new Routing(3, 3, offsets, ids, w, null);
        Dispatch plain = Dispatch.sort(r, 3), byWeight = Dispatch.sort(r, 3, null, true);
        for (int t = 0; t < 3; t++) {
            float last = Float.POSITIVE_INFINITY;
            int lastSlot = -1;
            assertEquals(plain.tokenStart(t), byWeight.tokenStart(t));
            for (int i = byWeight.tokenStart(t); i < byWeight.tokenStart(t + 1); i++) {
                int s = byWeight.bySlot(i);
                assertEquals(t, byWeight.token(s));
                float x = byWeight.weight(s);
                assertTrue(x < last || (x == last && s > lastSlot), "token " + t + ": slot " + s + " weight " + x + " after " + last);
                last = x;
                lastSlot = s;
            }
        }
        // t0's slots by weight: expert 1 (0.5), expert 2 (0.3), expert 0 (0.1); slots are expert-major
        assertEquals(1, expertOf(byWeight, byWeight.bySlot(byWeight.tokenStart(0))));
        assertEquals(2, expertOf(byWeight, byWeight.bySlot(byWeight.tokenStart(0) + 1)));
        assertEquals(0, expertOf(byWeight, byWeight.bySlot(byWeight.tokenStart(0) + 2)));
        // the slots themselves (expert groups, tokens ascending) are the same either way
        for (int s = 0; s < plain.pairs(); s++) {
            assertEquals(plain.token(s), byWeight.token(s));
            assertEquals(plain.weight(s), byWeight.weight(s));
        }
    }

    private static int expertOf(Dispatch d, int slot) {
        int e = 0;
        while (d.start(e + 1) <= slot) e++;
        return e;
    }
}
