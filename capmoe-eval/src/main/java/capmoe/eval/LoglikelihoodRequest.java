package capmoe.eval;

/** log P(continuation | context) over token ids, lm-eval's loglikelihood request after encoding. */
public record LoglikelihoodRequest(int[] context, int[] continuation) {
    public LoglikelihoodRequest {
        if (continuation.length == 0) throw new IllegalArgumentException("empty continuation");
    }
}
