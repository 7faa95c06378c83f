package capmoe.kernels;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link Parallel#forWork}: every item once, chunks within one item of each other, as many as the work allows. */
class ParallelWorkTest {

    private static List<int[]> chunks(Parallel p, int n, long work) {
        List<int[]> out = new ArrayList<>();
        int[] hits = new int[n];
        p.forWork(n, work, (s, e) -> {
            synchronized (out) {
                out.add(new int[] {s, e});
                for (int i = s; i < e; i++) hits[i]++;
            }
        });
        for (int i = 0; i < n; i++) assertEquals(1, hits[i], "item " + i + " of " + n);
        return out;
    }

    @Test
    void chunksAreEvenAndSizedByWork() {
        try (Parallel two = new Parallel(2); Parallel three = new Parallel(3)) {
            // 3 panels of a q/k/v phase on 2 threads: 1 and 2 panels, not 1 and 2 grains
            List<int[]> c = chunks(two, 18, 6144);
            assertEquals(2, c.size());
            for (int[] r : c) assertEquals(9, r[1] - r[0], "18 items on 2 threads: 9 each");
            c = chunks(three, 100, Parallel.MIN_TASK_WORK);
            assertEquals(3, c.size());
            for (int[] r : c) assertTrue(r[1] - r[0] == 33 || r[1] - r[0] == 34, "100 items on 3 threads: " + (r[1] - r[0]));
            assertEquals(1, chunks(three, 6, 6144).size(), "37K multiply-adds: one task (~MIN_TASK_WORK), on the caller");
            assertEquals(2, chunks(three, 2, 1L << 20).size(), "never more chunks than items");
            assertEquals(0, chunks(three, 0, 1).size(), "nothing to do");
        }
    }
}
