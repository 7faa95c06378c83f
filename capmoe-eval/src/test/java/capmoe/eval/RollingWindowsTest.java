package capmoe.eval;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** lm-eval's get_rolling_token_windows + make_disjoint_window (context_len = 1), worked by hand. */
class RollingWindowsTest {

    @Test
    void tenTokensInWindowsOfFour() {
        int[] tokens = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
        List<LoglikelihoodRequest> w = RollingWindows.windows(tokens, 0, 4);
        assertEquals(3, w.size());
        // first window: prefix token, then predict 1..4 from [0,1,2,3]
        assertArrayEquals(new int[] {0}, w.get(0).context());
        assertArrayEquals(new int[] {1, 2, 3, 4}, w.get(0).continuation());
        // second: input tokens[3:7] = [4,5,6,7] predicts [5,6,7,8]; disjoint context keeps [4]
        assertArrayEquals(new int[] {4}, w.get(1).context());
        assertArrayEquals(new int[] {5, 6, 7, 8}, w.get(1).continuation());
        // last: only 9, 10 left; input tokens[5:9] = [6,7,8,9] so the context is [6,7,8]
        assertArrayEquals(new int[] {6, 7, 8}, w.get(2).context());
        assertArrayEquals(new int[] {9, 10}, w.get(2).continuation());
        // model inputs are context ++ continuation[:-1], never longer than max_length
        for (LoglikelihoodRequest r : w) {
            assertEquals(4, Loglikelihoods.input(r, 4).length);
        }
        assertArrayEquals(new int[] {6, 7, 8, 9}, Loglikelihoods.input(w.get(2), 4));
    }

    @Test
    void everyTokenIsPredictedOnceInOrder() {
        for (int n : new int[] {1, 4, 5, 17, 64}) {
            int[] tokens = new int[n];
            for (int i = 0; i < n; i++) tokens[i] = 100 + i;
            int next = 0;
            for (LoglikelihoodRequest r : RollingWindows.windows(tokens, 0, 5)) {
                for (int t : r.continuation()) assertEquals(tokens[next++], t);
                assertTrue(Loglikelihoods.input(r, 5).length <= 5);
            }
            assertEquals(n, next, "n=" + n);
        }
        assertTrue(RollingWindows.windows(new int[0], 0, 5).isEmpty());
    }

    @Test
    void shortDocumentIsOneWindowFromThePrefix() {
        List<LoglikelihoodRequest> w = RollingWindows.windows(new int[] {7, 8}, 3, 16);
        assertEquals(1, w.size());
        assertArrayEquals(new int[] {3}, w.get(0).context());
        assertArrayEquals(new int[] {7, 8}, w.get(0).continuation());
    }

    @Test
    void longContextIsTruncatedFromTheLeftAsLmEvalDoes() {
        // (context ++ continuation)[-(max+1):][:-1]
        var r = new LoglikelihoodRequest(new int[] {1, 2, 3, 4, 5}, new int[] {6, 7});
        assertArrayEquals(new int[] {3, 4, 5, 6}, Loglikelihoods.input(r, 4));
        assertArrayEquals(new int[] {1, 2, 3, 4, 5, 6}, Loglikelihoods.input(r, 100));
    }
}
