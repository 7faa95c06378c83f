package capmoe.routing;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.*;

/** Quickselect against a full sort: the n smallest keys end up in front, for every n. */
class SelectTest {

    @Test
    void movesTheNSmallestToTheFrontLikeASort() {
        SplittableRandom rng = new SplittableRandom(11);
        for (int trial = 0; trial < 300; trial++) {
            int size = 1 + rng.nextInt(trial < 100 ? 40 : 3000);
            long[] a = new long[size];
            for (int i = 0; i < size; i++) a[i] = (trial % 3 == 0 ? rng.nextInt(50) : rng.nextLong()) * 4096L + i; // distinct, often clustered
            if (trial % 5 == 0) Arrays.sort(a); // already sorted input
            if (trial % 7 == 0) { Arrays.sort(a); for (int i = 0; i < size / 2; i++) { long t = a[i]; a[i] = a[size - 1 - i]; a[size - 1 - i] = t; } }
            long[] sorted = a.clone();
            Arrays.sort(sorted);
            int n = rng.nextInt(size + 1);
            long[] b = a.clone();
            Select.smallestFirst(b, size, n);
            long[] front = Arrays.copyOf(b, n);
            Arrays.sort(front);
            assertArrayEquals(Arrays.copyOf(sorted, n), front, "size " + size + ", n " + n);
            long[] all = b.clone();
            Arrays.sort(all);
            assertArrayEquals(sorted, all, "a permutation of the input");
        }
    }
}
