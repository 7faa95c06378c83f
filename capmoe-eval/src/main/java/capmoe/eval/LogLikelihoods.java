package capmoe.eval;

import capmoe.model.CausalLM;
import capmoe.model.RunOptions;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Scores loglikelihood requests the way lm-eval's HFLM does: the model reads
 * {@code (context ++ continuation)[-(maxLength+1):][:-1]} and the continuation's tokens are scored
 * from the last {@code continuation.length} positions.
 *
 * <p>Efficiency: requests whose model input is identical are run once (every mmlu/boolq choice is a
 * single token after the same prompt, so a document costs one sequence, not four), and the distinct
 * inputs run longest first in batches of similar length, as lm-eval's collator orders them.
 *
 * <p>Note for capacity policies: the capacity is computed per forward pass over all its tokens, so
 * scores depend on which sequences share a batch; the order here is deterministic.
 */
public final class LogLikelihoods {
    private LogLikelihoods() { }

    public static List<Loglikelihood> score(CausalLM model, RunOptions options, List<LoglikelihoodRequest> requests,
                                            int maxLength, int batch, Progress progress) {
        // Distinct model inputs, each with the requests it answers.
        Map<Key, List<Integer>> byInput = new LinkedHashMap<>();
        int[][] inputs = new int[requests.size()][];
        for (int r = 0; r < requests.size(); r++) {
            LoglikelihoodRequest q = requests.get(r);
            if (q.continuation().length > maxLength) {
                throw new IllegalArgumentException("A continuation of " + q.continuation().length
                        + " tokens does not fit in the model's max length " + maxLength);
            }
            inputs[r] = input(q, maxLength);
            byInput.computeIfAbsent(new Key(inputs[r]), k -> new ArrayList<>()).add(r);
        }
        List<Key> order = new ArrayList<>(byInput.keySet());
        order.sort(Comparator.comparingInt((Key k) -> -k.tokens().length));

        long totalTokens = 0;
        for (Key k : order) totalTokens += k.tokens().length;
        if (progress != null) progress.start(totalTokens);

        Loglikelihood[] out = new Loglikelihood[requests.size()];
        for (int start = 0; start < order.size(); start += batch) {
            List<Key> group = order.subList(start, Math.min(order.size(), start + batch));
            int[][] seqs = new int[group.size()][];
            long tokens = 0;
            for (int i = 0; i < seqs.length; i++) {
                seqs[i] = group.get(i).tokens();
                tokens += seqs[i].length;
            }
            float[][] logits = model.forward(seqs, options);
            for (int i = 0; i < seqs.length; i++) {
                for (int r : byInput.get(group.get(i))) {
                    out[r] = continuationLoglikelihood(logits[i], seqs[i].length, requests.get(r).continuation());
                }
            }
            if (progress != null) progress.advance(tokens);
        }
        if (progress != null) progress.finish();
        return Arrays.asList(out);
    }

    /** (context ++ continuation)[-(maxLength+1):][:-1] */
    static int[] input(LoglikelihoodRequest q, int maxLength) {
        int[] ctx = q.context();
        int[] cont = q.continuation();
        int full = ctx.length + cont.length;
        int from = Math.max(0, full - (maxLength + 1));
        int[] in = new int[full - 1 - from];
        for (int i = 0; i < in.length; i++) {
            int p = from + i;
            in[i] = p < ctx.length ? ctx[p] : cont[p - ctx.length];
        }
        return in;
    }

    /** Sum of log-softmax at the continuation's positions (the last cont.length rows), and the greedy check. */
    static Loglikelihood continuationLoglikelihood(float[] logits, int length, int[] cont) {
        int vocab = logits.length / length;
        double sum = 0;
        boolean greedy = true;
        for (int j = 0; j < cont.length; j++) {
            int row = (length - cont.length + j) * vocab;
            double max = Double.NEGATIVE_INFINITY;
            int argmax = 0;
            for (int v = 0; v < vocab; v++) {
                if (logits[row + v] > max) {
                    max = logits[row + v];
                    argmax = v;
                }
            }
            double z = 0;
            for (int v = 0; v < vocab; v++) z += Math.exp(logits[row + v] - max);
            sum += logits[row + cont[j]] - max - Math.log(z);
            if (argmax != cont[j]) greedy = false;
        }
        return new Loglikelihood(sum, greedy);
    }

    /** Token arrays as map keys (arrays compare by identity). */
    private record Key(int[] tokens) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && Arrays.equals(tokens, k.tokens);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(tokens);
        }
    }
}
