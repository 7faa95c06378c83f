package capmoe.cli;

import capmoe.kernels.MachinePeak;
import capmoe.kernels.Parallel;
import capmoe.model.CausalLM;
import capmoe.model.ModelConfig;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.model.Session;
import capmoe.model.SyntheticCheckpoint;
import capmoe.model.SyntheticCheckpoint.OlmoeShape;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * {@code capmoe bench}: prefill and decode speed on an OLMoE-1B-7B-shaped model (random bf16
 * weights written to a real safetensors file), next to this machine's measured fp32 FMA peak and
 * memory read bandwidth, so the numbers read as fractions of what the hardware can do.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmark prefill and decode on an OLMoE-1B-7B-shaped random model against the machine's measured peak.")
public final class BenchCommand implements Callable<Integer> {

    @Mixin
    QuantizeOption quantize = new QuantizeOption();

    @Option(names = "--layers", defaultValue = "16", description = "decoder layers (OLMoE-1B-7B has 16; fewer = smaller file; default: ${DEFAULT-VALUE})")
    int layers;

    @Option(names = "--prefill-tokens", defaultValue = "512", description = "tokens in the prefill batch (default: ${DEFAULT-VALUE})")
    int prefillTokens;

    @Option(names = "--sequences", defaultValue = "1", description = "sequences the prefill tokens are split into (default: ${DEFAULT-VALUE})")
    int sequences;

    @Option(names = "--decode-tokens", defaultValue = "32", description = "tokens decoded one at a time (default: ${DEFAULT-VALUE})")
    int decodeTokens;

    @Option(names = "--reps", defaultValue = "2", description = "timed repetitions, best reported (default: ${DEFAULT-VALUE})")
    int reps;

    @Option(names = "--dir", description = "where to write the model (default: a temp dir, deleted afterwards)")
    Path dir;

    @Override
    public Integer call() throws IOException {
        if (layers < 1 || prefillTokens < sequences || sequences < 1 || decodeTokens < 1 || reps < 1) {
            throw new IllegalArgumentException("need --layers >= 1, --sequences >= 1, --prefill-tokens >= --sequences, --decode-tokens >= 1, --reps >= 1");
        }
        OlmoeShape shape = OlmoeShape.olmoe1b7b(layers);
        boolean temp = dir == null;
        Path where = temp ? Files.createTempDirectory("capmoe-bench") : dir;
        try {
            long t0 = System.nanoTime();
            if (!Files.exists(where.resolve("model.safetensors"))) SyntheticCheckpoint.writeOlmoe(where, shape, 1234);
            System.out.printf(Locale.ROOT, "model: OLMoE-1B-7B shape, %d layers, random bf16 weights in %s (%.1f GB, ready in %.1f s)%n",
                    layers, where, Files.size(where.resolve("model.safetensors")) / 1e9, (System.nanoTime() - t0) / 1e9);
            run(where);
        } finally {
            if (temp) deleteTree(where);
        }
        return 0;
    }

    private void run(Path where) {
        Parallel pool = Parallel.current();
        System.out.printf(Locale.ROOT, "threads: %d%n", pool.threads());
        try (CausalLM model = Models.load(where, null, quantize.format())) {
            ModelConfig c = model.config();
            RunOptions options = RunOptions.defaults();
            SplittableRandom random = new SplittableRandom(7);
            int[][] batch = new int[sequences][];
            for (int s = 0; s < sequences; s++) {
                int n = prefillTokens / sequences + (s < prefillTokens % sequences ? 1 : 0);
                batch[s] = random.ints(n, 2, c.vocabSize()).toArray();
            }
            // warm-up: the JIT compiles the kernels on a small pass first
            model.newSession(1, options).appendLast(new int[][] {java.util.Arrays.copyOf(batch[0], Math.min(64, batch[0].length))});

            double prefill = Double.MAX_VALUE;
            for (int r = 0; r < reps; r++) {
                long start = System.nanoTime();
                model.newSession(sequences, options).appendLast(batch);
                prefill = Math.min(prefill, (System.nanoTime() - start) / 1e9);
            }
            double prefillFlops = prefillFlops(c, batch);

            double decode = Double.MAX_VALUE;
            int prompt = 16;
            for (int r = 0; r < reps; r++) {
                Session s = model.newSession(1, options);
                float[] logits = s.appendLast(new int[][] {java.util.Arrays.copyOf(batch[0], prompt)})[0];
                long start = System.nanoTime();
                for (int i = 0; i < decodeTokens; i++) {
                    int next = capmoe.model.Generator.argmax(logits);
                    logits = s.appendLast(new int[][] {{next}})[0];
                }
                decode = Math.min(decode, (System.nanoTime() - start) / 1e9);
            }
            double decodeBytes = decodeBytesPerToken(c, prompt + decodeTokens / 2);

            double peakFlops = MachinePeak.fmaFlops(pool, 200_000_000L / pool.threads());
            double bandwidth = MachinePeak.readBandwidth(pool, 1L << 30, 3);

            double prefillRate = prefillTokens / prefill, achieved = prefillFlops / prefill;
            double decodeRate = decodeTokens / decode, decodeBw = decodeBytes * decodeRate;
            System.out.printf(Locale.ROOT, "machine peak: fp32 FMA %.1f GFLOP/s, memory read %.1f GB/s (measured now)%n", peakFlops / 1e9, bandwidth / 1e9);
            System.out.printf(Locale.ROOT, "prefill: %d tokens in %d sequence(s): %.3f s = %.1f tokens/s, %.1f GFLOP/s = %.1f%% of FMA peak%n",
                    prefillTokens, sequences, prefill, prefillRate, achieved / 1e9, 100 * achieved / peakFlops);
            System.out.printf(Locale.ROOT, "decode: batch 1, %d tokens: %.1f tokens/s, %.1f MB of weights+cache per token, %.1f GB/s = %.1f%% of read bandwidth%n",
                    decodeTokens, decodeRate, decodeBytes / 1e6, decodeBw / 1e9, 100 * decodeBw / bandwidth);
        }
    }

    /** Matmul + attention FLOPs of a prefill that computes logits only for each sequence's last token. */
    static double prefillFlops(ModelConfig c, int[][] batch) {
        long h = c.hiddenSize(), i = c.moeIntermediateSize(), e = c.numExperts(), k = c.topK();
        long kv = (long) c.numKeyValueHeads() * c.headDim(), q = (long) c.numAttentionHeads() * c.headDim();
        double perToken = 2.0 * (h * q + 2 * h * kv + q * h + h * e + k * 3 * h * i);
        double flops = 0;
        for (int[] seq : batch) {
            long t = seq.length;
            flops += t * perToken * c.numHiddenLayers();
            // causal attention: token j attends to j+1 positions; q.k and p.v each 2*d flops per head
            flops += c.numHiddenLayers() * 2.0 * 2 * q * (t * (t + 1) / 2.0);
            flops += 2.0 * h * c.vocabSize();
        }
        return flops;
    }

    /** Bytes a batch-1 decode step must read: attention, router and top-k experts in bf16, the KV cache in fp32, the LM head. */
    static double decodeBytesPerToken(ModelConfig c, int context) {
        long h = c.hiddenSize(), i = c.moeIntermediateSize(), e = c.numExperts(), k = c.topK();
        long kv = (long) c.numKeyValueHeads() * c.headDim(), q = (long) c.numAttentionHeads() * c.headDim();
        double perLayer = 2.0 * (h * q + 2 * h * kv + q * h + h * e + k * 3 * h * i) + 4.0 * 2 * kv * context;
        return perLayer * c.numHiddenLayers() + 2.0 * h * c.vocabSize();
    }

    private static void deleteTree(Path p) throws IOException {
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(x);
        }
    }
}
