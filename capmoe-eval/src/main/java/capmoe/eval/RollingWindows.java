package capmoe.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * lm-eval's rolling windows for loglikelihood_rolling: {@code get_rolling_token_windows} followed
 * by {@code make_disjoint_window}, with context_len = 1 as HFLM uses it. Every token of the
 * document is predicted exactly once; the first window starts from the prefix token (BOS, or EOS
 * for models without one), later windows from as much preceding text as fits in maxLength.
 */
public final class RollingWindows {
    private RollingWindows() { }

    /** Returns (context, continuation) pairs; the model input of each is context ++ continuation[:-1]. */
    public static List<LoglikelihoodRequest> windows(int[] tokens, int prefixToken, int maxLength) {
        return windows(tokens, prefixToken, maxLength, 1);
    }

    static List<LoglikelihoodRequest> windows(int[] tokens, int prefixToken, int maxSeqLen, int contextLen) {
        if (contextLen < 1 || contextLen > maxSeqLen) {
            throw new IllegalArgumentException("need 1 <= context_len <= max_length, got " + contextLen + ", " + maxSeqLen);
        }
        List<LoglikelihoodRequest> out = new ArrayList<>();
        if (tokens.length == 0) return out;
        int predLen = maxSeqLen - contextLen + 1;
        // First window: predict every token from the prefix token on.
        int firstSeqLen = Math.min(maxSeqLen, tokens.length);
        int[] firstInput = new int[firstSeqLen];
        firstInput[0] = prefixToken;
        System.arraycopy(tokens, 0, firstInput, 1, firstSeqLen - 1);
        out.add(disjoint(firstInput, Arrays.copyOfRange(tokens, 0, firstSeqLen)));
        int predicted = firstSeqLen;
        while (predicted < tokens.length) {
            int windowPredLen = Math.min(tokens.length - predicted, predLen);
            int windowEnd = predicted + windowPredLen;
            int[] input = Arrays.copyOfRange(tokens, windowEnd - maxSeqLen - 1, windowEnd - 1);
            int[] pred = Arrays.copyOfRange(tokens, windowEnd - windowPredLen, windowEnd);
            out.add(disjoint(input, pred));
            predicted += windowPredLen;
        }
        return out;
    }

    /** make_disjoint_window: keep only the context tokens that are not themselves predicted. */
    private static LoglikelihoodRequest disjoint(int[] input, int[] pred) {
        return new LoglikelihoodRequest(Arrays.copyOf(input, input.length - (pred.length - 1)), pred);
    }
}
