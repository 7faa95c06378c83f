package capmoe.speed;

import capmoe.kernels.MachinePeak;
import capmoe.kernels.Parallel;
import capmoe.model.CausalLM;
import capmoe.model.Generator;
import capmoe.model.ModelConfig;
import capmoe.model.RunOptions;
import capmoe.model.Session;
import capmoe.runtime.PhaseClock;
import capmoe.weights.Checkpoint;
import capmoe.weights.DType;
import capmoe.weights.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Prefill and decode speed of a loaded model at several thread counts, measured in alternating
 * rounds (round r runs every thread count once, in turn), so a machine shared with other work
 * disturbs every configuration alike and the ratios between them hold. Each configuration also
 * gets the machine's measured peak on that many threads, so the speed reads as a fraction of what
 * the hardware can do: prefill against the peak of the arithmetic it runs (its matmuls' own
 * instruction, {@link MachinePeak.Arithmetic}: fp32 FMA in exact mode, bf16 {@code vdpbf16ps} or
 * int8 {@code vpdpbusd} in reduced mode; its attention scores and p·v at the fp32 FMA peak),
 * decode against memory read bandwidth.
 *
 * <p>Steps of {@link #run}:
 * <ol>
 *   <li>an untimed warm-up per thread count, every prefill length and the full decode, repeated
 *       until at least {@link #WARM_UP_NANOS} have passed <em>and</em> the JIT has settled (its
 *       compilers busy for at most {@link #JIT_SETTLED} of the last warm-up round), at most
 *       {@link #WARM_UP_MAX_NANOS}: so the timed rounds run compiled code at the shapes they use,
 *       as llama-bench's warm-up run does for its own. A fixed 2 s of the longest prefill was not
 *       enough on 2 cores, where the compiler threads share the cores with the model: olmoe-tiny's
 *       pp256 then measured 1,134, 5,383 and 8,795 tok/s in three rounds of one JVM;</li>
 *   <li>{@code rounds} rounds: per thread count, each prefill length as one sequence (logits for
 *       its last token only; in one session per thread count, emptied before each prefill, as
 *       llama-bench's repetitions share one context), then {@code decodeTokens} greedy tokens one
 *       at a time after a one-token prompt (batch 1, as llama-bench's tg);</li>
 *   <li>the peaks, each the best of {@code peakRuns} runs (a run disturbed by other work only
 *       ever measures lower), then the best round of each figure beside them.</li>
 * </ol>
 */
public final class EngineBench {
    private EngineBench() { }

    /**
     * What to run. {@code bandwidthBytes}: the array the read-bandwidth peak streams (far larger
     * than the caches: 1 GiB in {@code capmoe bench}).
     */
    public record Plan(int[] threads, int[] prefillTokens, int decodeTokens, int rounds, int peakRuns, long bandwidthBytes) {
        public Plan {
            if (threads.length == 0 || prefillTokens.length == 0) throw new IllegalArgumentException("need at least one thread count and prefill length");
            for (int t : threads) if (t < 1) throw new IllegalArgumentException("--threads must be >= 1, got " + t);
            for (int p : prefillTokens) if (p < 1) throw new IllegalArgumentException("--prefill-tokens must be >= 1, got " + p);
            if (decodeTokens < 1) throw new IllegalArgumentException("--decode-tokens must be >= 1, got " + decodeTokens);
            if (rounds < 1) throw new IllegalArgumentException("--rounds must be >= 1, got " + rounds);
            if (peakRuns < 1) throw new IllegalArgumentException("peak runs must be >= 1, got " + peakRuns);
            if (bandwidthBytes < 1 << 20) throw new IllegalArgumentException("the bandwidth array must be >= 1 MiB, got " + bandwidthBytes);
        }
    }

    /**
     * One measured figure: tokens/s of every round (in round order), the machine peak it is set
     * against (prefill: {@link #prefillPeak}, the FLOP/s of the arithmetic mix it runs), the Java heap bytes allocated per token (all threads, the fewest of any round:
     * what the engine itself allocates, e.g. the logits it returns, without a disturbed round's
     * noise), the team's hand-offs per token ({@link Parallel#handOffs}: phases the workers
     * were woken for, each ending in a barrier), and where the time went: {@code phases}, the
     * {@link PhaseClock} of every timed round together (its fractions are what the bench prints).
     */
    public record Figure(String test, int threads, double[] tokensPerSecond, double workPerToken, double peak, double allocatedPerToken,
                         double handOffsPerToken, PhaseClock phases) {
        public double best() { return Arrays.stream(tokensPerSecond).max().orElse(0); }

        public double worst() { return Arrays.stream(tokensPerSecond).min().orElse(0); }

        /** Work per second of the best round over the peak (FLOP/s over FMA FLOP/s, or bytes/s over read bytes/s). */
        public double fractionOfPeak() { return best() * workPerToken / peak; }
    }

    /**
     * Everything {@link #run} measured; the peaks per thread count in {@code plan.threads} order:
     * {@code fmaFlops} fp32 FMA, {@code matmulOps} the matmuls' {@code arithmetic} (the same
     * measurement as fmaFlops when that is {@link MachinePeak.Arithmetic#FP32_FMA}), read bandwidth;
     * {@code nanoTimeNanos}: one {@link PhaseClock} lap's cost here.
     */
    public record Result(Plan plan, MachinePeak.Arithmetic arithmetic, double[] fmaFlops, double[] matmulOps, double[] readBandwidth,
                         List<Figure> figures, double nanoTimeNanos) {
        /** The figure of {@code test} ("pp512", "tg64") at {@code threads}. */
        public Figure figure(String test, int threads) {
            for (Figure f : figures) if (f.test().equals(test) && f.threads() == threads) return f;
            throw new IllegalArgumentException("no figure " + test + " at " + threads + " threads");
        }
    }

    /**
     * Runs {@code plan} on {@code model}, whose matmuls run {@code arithmetic} ({@link #arithmetic});
     * {@code progress} gets one line per measured configuration.
     */
    public static Result run(CausalLM model, double bytesPerWeight, MachinePeak.Arithmetic arithmetic, Plan plan, Consumer<String> progress) {
        ModelConfig c = model.config();
        RunOptions options = RunOptions.defaults();
        int maxPrefill = Arrays.stream(plan.prefillTokens()).max().orElseThrow();
        int[] prompt = new SplittableRandom(7).ints(maxPrefill, 2, c.vocabSize()).toArray();
        List<Parallel> pools = new ArrayList<>();
        try {
            for (int t : plan.threads()) pools.add(new Parallel(t));
            int nt = plan.threads().length, np = plan.prefillTokens().length;
            double[][][] prefill = new double[nt][np][plan.rounds()];
            double[][] decode = new double[nt][plan.rounds()];
            double[][] prefillAlloc = new double[nt][np];     // heap bytes per token, fewest of the rounds
            double[] decodeAlloc = new double[nt];
            double[][] prefillHandOffs = new double[nt][np];
            double[] decodeHandOffs = new double[nt];
            PhaseClock[][] prefillPhases = new PhaseClock[nt][np];
            PhaseClock[] decodePhases = new PhaseClock[nt];
            for (int i = 0; i < nt; i++) {
                decodePhases[i] = new PhaseClock();
                for (int p = 0; p < np; p++) prefillPhases[i][p] = new PhaseClock();
            }
            for (double[] a : prefillAlloc) Arrays.fill(a, Double.MAX_VALUE);
            Arrays.fill(decodeAlloc, Double.MAX_VALUE);
            Session[] prefillSessions = new Session[nt];         // per thread count: its prefills' session, buffers kept between rounds
            for (int i = 0; i < nt; i++) {
                Session ps = prefillSessions[i] = model.newSession(1, options);
                pools.get(i).run(() -> {
                    long start = System.nanoTime(), jit = jitMillis();
                    while (true) {
                        long r0 = System.nanoTime();
                        for (int n : plan.prefillTokens()) prefill(ps, Arrays.copyOf(prompt, n), new PhaseClock(), new long[1]);
                        decode(model, options, prompt[0], plan.decodeTokens(), new PhaseClock(), new long[1]);
                        long now = System.nanoTime(), j = jitMillis();
                        boolean settled = (j - jit) * 1e6 <= JIT_SETTLED * (now - r0);
                        jit = j;
                        if (now - start >= WARM_UP_NANOS && settled || now - start >= WARM_UP_MAX_NANOS) break;
                    }
                });
            }
            for (int r = 0; r < plan.rounds(); r++) {
                for (int i = 0; i < nt; i++) {
                    int round = r, ti = i;
                    pools.get(i).run(() -> {
                        for (int p = 0; p < np; p++) {
                            int n = plan.prefillTokens()[p];
                            long h0 = pools.get(ti).handOffs();
                            long[] stepBytes = new long[1];
                            prefill[ti][p][round] = n / prefill(prefillSessions[ti], Arrays.copyOf(prompt, n), prefillPhases[ti][p], stepBytes);
                            prefillAlloc[ti][p] = Math.min(prefillAlloc[ti][p], stepBytes[0] / (double) n);
                            prefillHandOffs[ti][p] = (pools.get(ti).handOffs() - h0) / (double) n;
                        }
                        long h0 = pools.get(ti).handOffs();
                        int n = plan.decodeTokens();
                        long[] stepBytes = new long[1];
                        decode[ti][round] = n / decode(model, options, prompt[0], n, decodePhases[ti], stepBytes);
                        decodeAlloc[ti] = Math.min(decodeAlloc[ti], stepBytes[0] / (double) n);
                        decodeHandOffs[ti] = (pools.get(ti).handOffs() - h0) / (double) n;
                    });
                    StringBuilder line = new StringBuilder(String.format(java.util.Locale.ROOT, "round %d/%d, %d threads:", r + 1, plan.rounds(), plan.threads()[i]));
                    for (int p = 0; p < np; p++) line.append(String.format(java.util.Locale.ROOT, " pp%d %.1f tok/s,", plan.prefillTokens()[p], prefill[i][p][r]));
                    line.append(String.format(java.util.Locale.ROOT, " tg%d %.1f tok/s", plan.decodeTokens(), decode[i][r]));
                    progress.accept(line.toString());
                }
            }
            double[] flops = new double[nt], matmul = new double[nt], bandwidth = new double[nt];
            for (int i = 0; i < nt; i++) {
                flops[i] = MachinePeak.peakOps(pools.get(i), MachinePeak.Arithmetic.FP32_FMA, plan.peakRuns());
                matmul[i] = arithmetic == MachinePeak.Arithmetic.FP32_FMA ? flops[i] : MachinePeak.peakOps(pools.get(i), arithmetic, plan.peakRuns());
                bandwidth[i] = MachinePeak.readBandwidth(pools.get(i), plan.bandwidthBytes(), plan.peakRuns());
            }
            List<Figure> figures = new ArrayList<>();
            for (int i = 0; i < nt; i++) {
                for (int p = 0; p < np; p++) {
                    int n = plan.prefillTokens()[p];
                    figures.add(new Figure("pp" + n, plan.threads()[i], prefill[i][p], prefillFlops(c, n) / n, prefillPeak(c, n, matmul[i], flops[i]),
                            prefillAlloc[i][p], prefillHandOffs[i][p],
                            prefillPhases[i][p]));
                }
                figures.add(new Figure("tg" + plan.decodeTokens(), plan.threads()[i], decode[i],
                        decodeBytesPerToken(c, bytesPerWeight, 1 + plan.decodeTokens() / 2), bandwidth[i], decodeAlloc[i], decodeHandOffs[i], decodePhases[i]));
            }
            return new Result(plan, arithmetic, flops, matmul, bandwidth, figures, PhaseClock.nanoTimeCost());
        } finally {
            for (Parallel p : pools) p.close();
        }
    }

    /**
     * Bytes per weight over the checkpoint's matrices as the engine holds them: stored dtype, or
     * the {@code --quantize} block format for the matrices it converts (2 for bf16, 34/32 for
     * Q8_0): what a decode step streams per multiply-add.
     */
    public static double bytesPerWeight(Checkpoint checkpoint) {
        double bytes = 0, elements = 0;
        for (Tensor t : checkpoint.tensors().values()) {
            if (t.shape().length != 2) continue;
            DType q = checkpoint.quantize();
            boolean converted = q != null && Checkpoint.quantizes(t.name(), (int) t.shape()[1]);
            bytes += converted ? q.bytes(t.elements()) : t.data().byteSize();
            elements += t.elements();
        }
        return elements == 0 ? 4 : bytes / elements;
    }

    /**
     * The arithmetic of the checkpoint's weight matrices as the engine multiplies them: the dtype
     * holding most of their elements (the {@code --quantize} format for those it converts) in the
     * checkpoint's {@code --dot} mode ({@link MachinePeak.Arithmetic#of}).
     */
    public static MachinePeak.Arithmetic arithmetic(Checkpoint checkpoint) {
        java.util.Map<DType, Double> elements = new java.util.EnumMap<>(DType.class);
        for (Tensor t : checkpoint.tensors().values()) {
            if (t.shape().length != 2) continue;
            DType q = checkpoint.quantize();
            DType held = q != null && Checkpoint.quantizes(t.name(), (int) t.shape()[1]) ? q : t.dtype();
            elements.merge(held, (double) t.elements(), Double::sum);
        }
        DType most = elements.entrySet().stream().max(java.util.Map.Entry.comparingByValue()).map(java.util.Map.Entry::getKey).orElse(DType.F32);
        return MachinePeak.Arithmetic.of(most, checkpoint.dot());
    }

    /** The warm-up runs its round again until at least this much time has passed and the JIT has settled. */
    static final long WARM_UP_NANOS = 2_000_000_000L;
    /** ... but never longer than this (a JIT that keeps compiling something else must not stall the bench). */
    static final long WARM_UP_MAX_NANOS = 30_000_000_000L;
    /** The JIT has settled when its compilers spent at most this fraction of a warm-up round's wall time compiling during it. */
    static final double JIT_SETTLED = 0.02;

    private static final java.lang.management.CompilationMXBean JIT = java.lang.management.ManagementFactory.getCompilationMXBean();

    /** Milliseconds the JIT's compiler threads have spent compiling so far (0 where the JVM does not say). */
    private static long jitMillis() {
        return JIT != null && JIT.isCompilationTimeMonitoringSupported() ? JIT.getTotalCompilationTime() : 0;
    }

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();

    /** Heap bytes allocated so far by all live threads (the caller and the team's workers). */
    private static long allocated() {
        return THREADS.getTotalThreadAllocatedBytes();
    }

    /**
     * Seconds for one prefill of {@code tokens} as one sequence, logits for its last token only; its
     * phases go to {@code clock}. The session {@code s} is the thread count's own, emptied and its
     * KV cache sized for the prompt before the timing ({@link Session#reset}, {@link Session#reserve}),
     * so the timed prefill runs on the step buffers of its earlier rounds, as llama-bench's repetitions
     * run in one context made before them (its KV cache cleared between them). A new session per
     * round (until {@code eb1faea}) also timed the allocation and zeroing of those buffers and the
     * cache's doublings on the calling thread: for olmoe-tiny's 512 tokens about 8 MB per prefill
     * (the alloc/token column). {@code stepBytes[0]} gets the heap bytes the timed prefill allocates.
     */
    private static double prefill(Session s, int[] tokens, PhaseClock clock, long[] stepBytes) {
        s.reset(0);
        s.reserve(0, tokens.length);
        int[][] batch = {tokens};
        long a0 = allocated(), start = System.nanoTime();
        clock.time(() -> s.appendLast(batch));
        long nanos = System.nanoTime() - start;
        stepBytes[0] = allocated() - a0;
        return nanos / 1e9;
    }

    /**
     * Seconds for {@code n} greedy batch-1 decode steps after a one-token prompt; their phases go
     * to {@code clock}, the heap bytes the steps allocate (all threads; not the session, its
     * reserved KV cache and the prompt) to {@code stepBytes[0]}.
     */
    private static double decode(CausalLM model, RunOptions options, int first, int n, PhaseClock clock, long[] stepBytes) {
        Session s = model.newSession(1, options);
        s.reserve(0, 1 + n);                                   // the KV cache's room for every step, made before the timing
        int[][] next = {{first}};
        float[][] logits = s.appendLast(next);                 // reused by every step
        long a0 = allocated(), start = System.nanoTime();
        clock.time(() -> {
            for (int i = 0; i < n; i++) {
                next[0][0] = Generator.argmax(logits[0]);
                s.appendLast(next, logits);
            }
        });
        long nanos = System.nanoTime() - start;
        stepBytes[0] = allocated() - a0;
        return nanos / 1e9;
    }

    /**
     * Matmul + attention FLOPs per prefill of {@code t} tokens in one sequence, logits for the last
     * token only (an FMA counts 2; routed experts count top-k, shared experts and dense MLPs are
     * not in OLMoE).
     */
    public static double prefillFlops(ModelConfig c, long t) {
        return prefillMatmulFlops(c, t) + prefillAttentionFlops(c, t);
    }

    /** The weight matmuls' part of {@link #prefillFlops}: projections, router, experts, the LM head's one row. */
    static double prefillMatmulFlops(ModelConfig c, long t) {
        long h = c.hiddenSize(), i = c.moeIntermediateSize(), e = c.numExperts(), k = c.topK();
        long kv = (long) c.numKeyValueHeads() * c.headDim(), q = (long) c.numAttentionHeads() * c.headDim();
        double perToken = 2.0 * (h * q + 2 * h * kv + q * h + h * e + k * 3 * h * i);
        return t * perToken * c.numHiddenLayers() + 2.0 * h * c.vocabSize();
    }

    /** The causal attention's part of {@link #prefillFlops} (fp32 in both modes): token j attends to j+1 positions, q.k and p.v each 2*d flops per head. */
    static double prefillAttentionFlops(ModelConfig c, long t) {
        long q = (long) c.numAttentionHeads() * c.headDim();
        return c.numHiddenLayers() * 2.0 * 2 * q * (t * (t + 1) / 2.0);
    }

    /**
     * The peak a prefill of {@code t} tokens is measured against, in FLOP/s: its FLOPs over the time
     * they take at the peak of the arithmetic that runs them, the weight matmuls at {@code matmulOps}
     * (their {@link MachinePeak.Arithmetic}'s measured peak), the attention at {@code fmaFlops}:
     * {@code F / (F_matmul / matmulOps + F_attention / fmaFlops)}, so the fraction of peak is the
     * ideal time over the measured time (exact mode: the two peaks are one, and this is fmaFlops).
     */
    public static double prefillPeak(ModelConfig c, long t, double matmulOps, double fmaFlops) {
        if (matmulOps == fmaFlops) return fmaFlops;
        double m = prefillMatmulFlops(c, t), a = prefillAttentionFlops(c, t);
        return (m + a) / (m / matmulOps + a / fmaFlops);
    }

    /** Bytes a batch-1 decode step at {@code context} cached positions must read: weights in their stored dtype (the chosen experts only), the fp32 KV cache, the LM head. */
    public static double decodeBytesPerToken(ModelConfig c, double bytesPerWeight, int context) {
        long h = c.hiddenSize(), i = c.moeIntermediateSize(), e = c.numExperts(), k = c.topK();
        long kv = (long) c.numKeyValueHeads() * c.headDim(), q = (long) c.numAttentionHeads() * c.headDim();
        double w = bytesPerWeight;
        double perLayer = w * (h * q + 2 * h * kv + q * h + h * e + k * 3 * h * i) + 4.0 * 2 * kv * context;
        return perLayer * c.numHiddenLayers() + w * h * c.vocabSize();
    }
}
