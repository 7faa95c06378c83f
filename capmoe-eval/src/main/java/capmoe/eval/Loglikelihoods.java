package capmoe.eval;

import capmoe.model.CausalLM;
import capmoe.model.RunOptions;
import capmoe.model.Session;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Scores loglikelihood requests the way lm-eval's HFLM does: the model reads
 * {@code (context ++ continuation)[-(maxLength+1):][:-1]} and the continuation's tokens are scored
 * from the last {@code continuation.length} positions. Two ways to run that, same scores under
 * policy {@code none} (up to fp32 summation order):
 *
 * <ul>
 * <li><b>Shared context</b> (the default): requests are grouped by context. The distinct contexts are
 *   prefilled in batches into one KV-cached session; the last context position's logits score every
 *   continuation's first token, so single-token continuations (every mmlu/boolq choice) need nothing
 *   more. For longer continuations the session is {@link Session#fork forked} into one row per
 *   distinct continuation and a context's continuations are appended together in one batched step.
 *   A request whose context is empty, or would be cut by the truncation, or that is the only one of
 *   its context (nothing to share: rolling windows, LAMBADA, winogrande's partial scoring) takes the
 *   full-sequence path.
 * <li><b>Full sequence</b> ({@code sharedContext = false}, what lm-eval's HF backend does): every
 *   distinct input runs as one sequence; identical inputs run once; longest first, batches of
 *   similar length, as lm-eval's collator orders them.
 * </ul>
 *
 * <p>Capacity policies compute the capacity per forward call over all its tokens, so a policy's
 * scores depend on which tokens share a call: the two modes route different batches (a context's
 * tokens in the prefill, its continuations in a later call) and so give different scores under a
 * capacity policy. Both orders are deterministic.
 */
public final class Loglikelihoods {
    private Loglikelihoods() { }

    public static List<Loglikelihood> score(CausalLM model, RunOptions options, List<LoglikelihoodRequest> requests,
                                            int maxLength, int batch, boolean sharedContext, Progress progress) {
        Map<Key, List<Integer>> byContext = new LinkedHashMap<>();
        List<Integer> fullSequence = new ArrayList<>();
        for (int r = 0; r < requests.size(); r++) {
            LoglikelihoodRequest q = requests.get(r);
            if (q.continuation().length > maxLength) {
                throw new IllegalArgumentException("A continuation of " + q.continuation().length
                        + " tokens does not fit in the model's max length " + maxLength);
            }
            boolean untruncated = q.context().length > 0 && q.context().length + q.continuation().length <= maxLength + 1;
            if (sharedContext && untruncated) {
                byContext.computeIfAbsent(new Key(q.context()), k -> new ArrayList<>()).add(r);
            } else {
                fullSequence.add(r);
            }
        }
        List<ContextGroup> groups = new ArrayList<>();
        for (var e : byContext.entrySet()) {
            if (e.getValue().size() == 1) fullSequence.add(e.getValue().getFirst());
            else groups.add(new ContextGroup(e.getKey().tokens(), e.getValue()));
        }
        fullSequence.sort(null);
        groups.sort(Comparator.comparingInt((ContextGroup g) -> -g.context().length));

        Loglikelihood[] out = new Loglikelihood[requests.size()];
        FullSequencePlan full = FullSequencePlan.of(requests, fullSequence, maxLength);
        long total = full.tokens();
        for (ContextGroup g : groups) total += g.tokens(requests);
        if (progress != null) progress.start(total);
        runFullSequences(model, options, requests, full, batch, out, progress);
        runSharedContexts(model, options, requests, groups, batch, out, progress);
        if (progress != null) progress.finish();
        return Arrays.asList(out);
    }

    // ---- full-sequence path -----------------------------------------------------------------

    /** Distinct model inputs, longest first, each with the requests it answers. */
    private record FullSequencePlan(List<Key> order, Map<Key, List<Integer>> byInput) {
        static FullSequencePlan of(List<LoglikelihoodRequest> requests, List<Integer> ids, int maxLength) {
            Map<Key, List<Integer>> byInput = new LinkedHashMap<>();
            for (int r : ids) byInput.computeIfAbsent(new Key(input(requests.get(r), maxLength)), k -> new ArrayList<>()).add(r);
            List<Key> order = new ArrayList<>(byInput.keySet());
            order.sort(Comparator.comparingInt((Key k) -> -k.tokens().length));
            return new FullSequencePlan(order, byInput);
        }

        long tokens() {
            long n = 0;
            for (Key k : order) n += k.tokens().length;
            return n;
        }
    }

    private static void runFullSequences(CausalLM model, RunOptions options, List<LoglikelihoodRequest> requests,
                                         FullSequencePlan plan, int batch, Loglikelihood[] out, Progress progress) {
        List<Key> order = plan.order();
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
                for (int r : plan.byInput().get(group.get(i))) {
                    out[r] = continuationLoglikelihood(logits[i], seqs[i].length, requests.get(r).continuation());
                }
            }
            if (progress != null) progress.advance(tokens);
        }
    }

    // ---- shared-context path ----------------------------------------------------------------

    /** One context and the requests that continue it. */
    private record ContextGroup(int[] context, List<Integer> requests) {
        /** Distinct continuations longer than one token (each needs its own forked row), with their requests. */
        Map<Key, List<Integer>> forkedRows(List<LoglikelihoodRequest> all) {
            Map<Key, List<Integer>> rows = new LinkedHashMap<>();
            for (int r : requests) {
                int[] cont = all.get(r).continuation();
                if (cont.length > 1) rows.computeIfAbsent(new Key(cont), k -> new ArrayList<>()).add(r);
            }
            return rows;
        }

        /** Tokens run through the model: the context once, then each forked row's continuation minus its last token. */
        long tokens(List<LoglikelihoodRequest> all) {
            long n = context.length;
            for (Key k : forkedRows(all).keySet()) n += k.tokens().length - 1;
            return n;
        }
    }

    /** A forked row: which prefilled context it continues, its continuation, the requests it answers. */
    private record Row(int source, int[] continuation, List<Integer> requests) { }

    private static void runSharedContexts(CausalLM model, RunOptions options, List<LoglikelihoodRequest> requests,
                                          List<ContextGroup> groups, int batch, Loglikelihood[] out, Progress progress) {
        for (int start = 0; start < groups.size(); start += batch) {
            List<ContextGroup> chunk = groups.subList(start, Math.min(groups.size(), start + batch));
            int[][] contexts = new int[chunk.size()][];
            long prefilled = 0;
            for (int i = 0; i < contexts.length; i++) {
                contexts[i] = chunk.get(i).context();
                prefilled += contexts[i].length;
            }
            Session session = model.newSession(contexts.length, options);
            float[][] last = session.appendLast(contexts);
            if (progress != null) progress.advance(prefilled);

            // Rows are forked and appended at most `batch` at a time, a context's rows always together.
            List<Row> pending = new ArrayList<>();
            for (int i = 0; i < chunk.size(); i++) {
                ContextGroup g = chunk.get(i);
                List<Row> rows = new ArrayList<>();
                for (int r : g.requests()) {
                    if (requests.get(r).continuation().length == 1) {
                        out[r] = continuationLoglikelihood(last[i].length, last[i], 0, requests.get(r).continuation(), null, 0);
                    }
                }
                for (var e : g.forkedRows(requests).entrySet()) rows.add(new Row(i, e.getKey().tokens(), e.getValue()));
                if (!pending.isEmpty() && pending.size() + rows.size() > batch) {
                    appendForked(session, pending, last, out, progress);
                    pending.clear();
                }
                pending.addAll(rows);
            }
            if (!pending.isEmpty()) appendForked(session, pending, last, out, progress);
        }
    }

    private static void appendForked(Session session, List<Row> rows, float[][] last, Loglikelihood[] out,
                                     Progress progress) {
        int[] sources = new int[rows.size()];
        int[][] appended = new int[rows.size()][];
        long tokens = 0;
        for (int i = 0; i < sources.length; i++) {
            sources[i] = rows.get(i).source();
            int[] cont = rows.get(i).continuation();
            appended[i] = Arrays.copyOf(cont, cont.length - 1);
            tokens += appended[i].length;
        }
        float[][] logits = session.fork(sources).append(appended);
        for (int i = 0; i < sources.length; i++) {
            float[] first = last[sources[i]];
            Loglikelihood ll = continuationLoglikelihood(first.length, first, 0, rows.get(i).continuation(), logits[i], 0);
            for (int r : rows.get(i).requests()) out[r] = ll;
        }
        if (progress != null) progress.advance(tokens);
    }

    // ---- scoring ----------------------------------------------------------------------------

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
        return continuationLoglikelihood(vocab, logits, (length - cont.length) * vocab, cont, logits,
                (length - cont.length + 1) * vocab);
    }

    /**
     * As above with the first continuation token predicted by {@code first[firstOffset..+vocab)} and
     * token j >= 1 by {@code rest[restOffset + (j-1)*vocab ..)}: the shared-context path keeps the
     * context's last logits and each forked row's appended logits in separate arrays.
     */
    private static Loglikelihood continuationLoglikelihood(int vocab, float[] first, int firstOffset, int[] cont,
                                                           float[] rest, int restOffset) {
        double sum = 0;
        boolean greedy = true;
        for (int j = 0; j < cont.length; j++) {
            float[] logits = j == 0 ? first : rest;
            int row = j == 0 ? firstOffset : restOffset + (j - 1) * vocab;
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
