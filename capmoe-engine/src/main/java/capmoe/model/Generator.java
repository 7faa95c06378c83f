package capmoe.model;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;

/**
 * Text generation with the KV cache: one prefill of the prompt, then one token per step.
 * Greedy when temperature is 0; otherwise HF's order: logits / temperature, then top-p (nucleus)
 * filtering, then a draw from a generator seeded with {@code seed} (reproducible, but not torch's RNG).
 */
public final class Generator {
    private Generator() { }

    /**
     * @param maxNewTokens how many tokens to generate at most
     * @param temperature  0 = greedy (argmax)
     * @param topP         nucleus mass in (0, 1]; 1 = no filtering
     * @param stopTokens   generation ends after emitting one of these (e.g. eos_token_id)
     */
    public record Settings(int maxNewTokens, double temperature, double topP, long seed, List<Integer> stopTokens) {
        public Settings {
            if (maxNewTokens < 0) throw new IllegalArgumentException("max new tokens must be >= 0, got " + maxNewTokens);
            if (!(temperature >= 0)) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
            if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
            stopTokens = List.copyOf(stopTokens);
        }

        public static Settings greedy(int maxNewTokens) {
            return new Settings(maxNewTokens, 0, 1, 0, List.of());
        }
    }

    /** Generates after {@code prompt}; returns only the new tokens. {@code onToken} sees each as it is made. */
    public static int[] generate(CausalLM model, int[] prompt, Settings s, RunOptions options, IntConsumer onToken) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty");
        SplittableRandom random = new SplittableRandom(s.seed());
        Session session = model.newSession(1, options);
        session.reserve(0, Math.min(prompt.length + s.maxNewTokens(), Math.max(prompt.length, model.config().maxPositionEmbeddings())));
        int[] out = new int[s.maxNewTokens()];
        int n = 0;
        // the prompt's logits array is reused by every step
        float[][] logits = s.maxNewTokens() == 0 ? null : session.appendLast(new int[][] {prompt});
        int[][] step = {{0}};
        while (n < s.maxNewTokens()) {
            int next = s.temperature() == 0 ? argmax(logits[0]) : sample(logits[0], s.temperature(), s.topP(), random);
            out[n++] = next;
            if (onToken != null) onToken.accept(next);
            if (s.stopTokens().contains(next) || n == s.maxNewTokens()) break;
            step[0][0] = next;
            session.appendLast(step, logits);
        }
        return Arrays.copyOf(out, n);
    }

    /**
     * Greedy generation of a whole batch in one KV-cached session: prefill every prompt, then
     * {@code newTokens} steps of one token per sequence (argmax; no stop token, so every sequence
     * takes every step and each step's batch is the same size). Returns each sequence's new tokens.
     */
    public static int[][] greedyBatch(Session session, int[][] prompts, int newTokens) {
        for (int[] p : prompts) {
            if (p.length == 0) throw new IllegalArgumentException("greedy: every prompt needs at least one token");
        }
        for (int b = 0; b < prompts.length; b++) session.reserve(b, prompts[b].length + newTokens);
        int[][] out = new int[prompts.length][newTokens];
        float[][] last = new float[prompts.length][];
        int[][] step = new int[prompts.length][1];
        for (int i = 0; i < newTokens; i++) {
            if (i == 0) {
                last = session.appendLast(prompts);
            } else {
                session.appendLast(step, last);                   // the same arrays every step
            }
            for (int b = 0; b < prompts.length; b++) out[b][i] = step[b][0] = argmax(last[b]);
        }
        return out;
    }

    /** Index of the largest logit (the first one on ties, as torch.argmax). */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    /** One draw from softmax(logits / temperature) restricted to the top-p nucleus (the order the class Javadoc gives). */
    public static int sample(float[] logits, double temperature, double topP, SplittableRandom random) {
        int v = logits.length;
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l / temperature);
        double[] p = new double[v];
        double sum = 0;
        for (int i = 0; i < v; i++) {
            p[i] = Math.exp(logits[i] / temperature - max);
            sum += p[i];
        }
        Integer[] order = new Integer[v];
        for (int i = 0; i < v; i++) order[i] = i;
        final double total = sum;
        Arrays.sort(order, (a, b) -> Double.compare(p[b], p[a]));
        // keep the smallest prefix of the sorted tokens whose mass reaches top-p (always >= 1 token)
        int keep = 0;
        double mass = 0;
        while (keep < v && (keep == 0 || mass < topP * total)) mass += p[order[keep++]];
        double r = random.nextDouble() * mass;
        for (int i = 0; i < keep; i++) {
            r -= p[order[i]];
            if (r < 0) return order[i];
        }
        return order[keep - 1];
    }
}
