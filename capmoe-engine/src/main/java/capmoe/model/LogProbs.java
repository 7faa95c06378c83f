package capmoe.model;

/** Log-probabilities of given continuations (for likelihood-based evaluation, e.g. PIQA, perplexity). */
public final class LogProbs {
    private LogProbs() { }

    /**
     * For each pair (context, continuation), the log-probability of every continuation token given
     * everything before it, computed in one batched forward pass over context + continuation.
     * Log-softmax in double over the fp32 logits.
     */
    public static double[][] continuation(CausalLM model, int[][] contexts, int[][] continuations, RunOptions options) {
        if (contexts.length != continuations.length) {
            throw new IllegalArgumentException(contexts.length + " contexts but " + continuations.length + " continuations");
        }
        int[][] seqs = new int[contexts.length][];
        for (int i = 0; i < seqs.length; i++) {
            if (contexts[i].length == 0) throw new IllegalArgumentException("context " + i + " is empty: the first token has no prediction");
            seqs[i] = new int[contexts[i].length + continuations[i].length];
            System.arraycopy(contexts[i], 0, seqs[i], 0, contexts[i].length);
            System.arraycopy(continuations[i], 0, seqs[i], contexts[i].length, continuations[i].length);
        }
        float[][] logits = model.forward(seqs, options);
        int v = model.config().vocabSize();
        double[][] out = new double[seqs.length][];
        for (int i = 0; i < seqs.length; i++) {
            out[i] = new double[continuations[i].length];
            for (int j = 0; j < continuations[i].length; j++) {
                int row = contexts[i].length + j - 1;
                out[i][j] = logSoftmax(logits[i], row * v, v, continuations[i][j]);
            }
        }
        return out;
    }

    /** Sum of {@link #continuation} per pair. */
    public static double[] sum(CausalLM model, int[][] contexts, int[][] continuations, RunOptions options) {
        double[][] lp = continuation(model, contexts, continuations, options);
        double[] s = new double[lp.length];
        for (int i = 0; i < lp.length; i++) for (double x : lp[i]) s[i] += x;
        return s;
    }

    /** log softmax(logits[off .. off+v))[token], in double. */
    public static double logSoftmax(float[] logits, int off, int v, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < v; i++) max = Math.max(max, logits[off + i]);
        double sum = 0;
        for (int i = 0; i < v; i++) sum += Math.exp(logits[off + i] - max);
        return logits[off + token] - max - Math.log(sum);
    }
}
