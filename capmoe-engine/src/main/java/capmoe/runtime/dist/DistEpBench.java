package capmoe.runtime.dist;

import capmoe.model.CausalLM;
import capmoe.model.ModelConfig;
import capmoe.model.RunOptions;
import capmoe.model.Models;
import capmoe.routing.Policy;
import capmoe.runtime.ep.EpBench;
import capmoe.runtime.ep.EpReplay;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * The expert-parallel benchmark over real processes, behind {@code mpirun -np D ./capmoe ep-bench}:
 * every rank runs its share of the model through {@link DataParallelLM} (its sequences' attention,
 * its experts), under every policy on the same batches, and the MoE layers' measured stage times
 * ({@link MoeTiming}) of all ranks are gathered. Wall-clock, per rank, per layer call: nothing is
 * modelled. Every rank calls {@link #run} (it is collective) and gets the same {@link Result};
 * rank 0 prints and writes it.
 *
 * <p>Steps of {@link #run}:
 * <ol>
 *   <li>every rank loads the model (memory-mapped: a rank touches the non-expert weights and its
 *       own experts only, {@link DataParallelLM#residentWeightBytes});</li>
 *   <li>rank 0 makes the token stream (the text tokenized with the model's tokenizer.json, or
 *       uniform random ids) and broadcasts it: rank 0 reads the inputs;</li>
 *   <li>for every batch (warm-up first, not kept), every policy in an order rotated by one per
 *       batch (so drift and caches hit each policy alike): a prefill forward of the global batch
 *       ({@link DataParallelLM#forwardOwn}), then, with {@code decodeSteps > 0}, greedy decoding
 *       ({@link DataParallelLM#greedy}) whose one-token steps are the decode calls; each MoE
 *       layer call's {@link MoeTiming} is kept, tagged with batch and phase;</li>
 *   <li>all ranks' timings are allgathered (the calls line up: they are collective);</li>
 *   <li>per policy and phase: layer time of a call = its slowest rank's total (all ranks leave
 *       the combine together); speedup per batch = none's summed layer time / the policy's on the
 *       same batch, median and range over batches; load bound = sum over calls of the most rows
 *       any rank's experts computed, none / the policy.</li>
 * </ol>
 */
public final class DistEpBench {
    private DistEpBench() { }

    /**
     * What to run.
     *
     * @param policies    the policies, the baseline {@code none} first
     * @param tokens      tokens per global batch (cut into sequences of seqLen, split over ranks)
     * @param wire        how hidden rows travel in the all-to-alls
     * @param decodeSteps greedy decode steps (one-token passes) after each batch's prefill (0 = prefill only)
     * @param text        text to tokenize with the model's tokenizer.json, or null for random ids
     */
    public record Config(Path model, List<Policy> policies, CapacityScope scope, Wire wire, int tokens, int seqLen, int batches,
                         int warmup, int decodeSteps, Path text, long seed) {
        public Config {
            if (tokens < 1 || seqLen < 1 || batches < 1 || warmup < 0 || decodeSteps < 0) {
                throw new IllegalArgumentException("--tokens, --seq-len and --batches must be >= 1, --warmup and --decode-steps >= 0");
            }
            if (policies.isEmpty() || !(policies.getFirst() instanceof Policy.None)) {
                throw new IllegalArgumentException("the policies must start with the baseline none");
            }
            policies = List.copyOf(policies);
        }

        int tokensNeeded() { return (warmup + batches) * tokens; }
    }

    /** Prefill (a batch's full sequences) or decode (one new token per sequence). */
    public enum Phase { PREFILL, DECODE }

    /**
     * One MoE layer call as every rank measured it.
     *
     * @param ranks the call's timing on rank 0, 1, ...
     */
    public record Call(int policy, int batch, Phase phase, int layer, List<MoeTiming> ranks) {

        /** The call's time: its slowest rank's total (router .. combine). */
        public long layerNs() { return ranks.stream().mapToLong(MoeTiming::totalNs).max().orElse(0); }

        /** The critical path into the wait: the slowest rank's router + dispatch + experts. */
        public long criticalNs() {
            return ranks.stream().mapToLong(t -> t.routerNs() + t.dispatchNs() + t.expertNs()).max().orElse(0);
        }

        /** Most rows any rank's experts computed: the load that sets the straggler. */
        public int maxRows() { return ranks.stream().mapToInt(MoeTiming::rowsReceived).max().orElse(0); }

        /** Max over mean of the rows the ranks' experts computed. */
        public double maxOverMean() {
            double mean = ranks.stream().mapToInt(MoeTiming::rowsReceived).average().orElse(0);
            return mean == 0 ? 1 : maxRows() / mean;
        }
    }

    /**
     * One policy in one phase.
     *
     * @param layerMs       mean layer time (slowest rank) per MoE layer call, ms
     * @param criticalMs    mean critical path per call (slowest rank's router + dispatch + experts), ms
     * @param speedup       none's time / this policy's per batch: median and range
     * @param bound         load bound: sum of max rank rows, none / this policy
     * @param maxOverMean   mean over calls of max/mean rank rows
     * @param allToAllShare time in dispatch + combine (mean over ranks) / layer time (mean over ranks)
     * @param waitMsPerRank mean straggler wait per call on each rank, ms
     * @param stageMs       mean per call of router, dispatch, experts, wait, combine per rank: [rank][5], ms
     * @param layerStageMs  the same per decoder layer: layer index → [rank][5], ms
     */
    public record PhaseResult(String policy, Phase phase, int calls, double layerMs, double criticalMs, EpReplay.Speedup speedup, double bound,
                              double maxOverMean, double allToAllShare, double[] waitMsPerRank, double[][] stageMs,
                              java.util.SortedMap<Integer, double[][]> layerStageMs) { }

    /**
     * The whole run.
     *
     * @param residentBytes per rank, checkpoint bytes it maps and reads (non-expert + own experts)
     * @param calls         every measured call (for the timeline)
     */
    public record Result(Config config, ModelConfig model, String label, String data, int ranks, int threadsPerRank,
                         long[] residentBytes, List<PhaseResult> prefill, List<PhaseResult> decode, List<Call> calls) {

        /** The console's tables (the same values as the JSON and the HTML). */
        public String table() {
            StringBuilder sb = new StringBuilder();
            sb.append(label).append('\n');
            sb.append(f("resident weights per rank (MiB): %s%n", Arrays.stream(residentBytes)
                    .mapToObj(b -> f("%.1f", b / 1048576.0)).toList()));
            table(sb, "prefill", prefill);
            if (!decode.isEmpty()) table(sb, "decode", decode);
            sb.append("MoE layer = slowest rank's router + dispatch + experts + wait + combine, per call; critical = slowest\n")
                    .append("  rank's router + dispatch + experts (what the others wait for); speedup = none's / the\n")
                    .append("  policy's summed layer time on the same batch, median (range) over batches; bound = sum over calls of the\n")
                    .append("  most rows a rank's experts computed, none / policy; a2a% = dispatch + combine (all-to-alls with their\n")
                    .append("  packing) / layer time, mean over ranks; wait = time a rank waits for the slowest rank's experts.\n");
            return sb.toString();
        }

        private void table(StringBuilder sb, String phase, List<PhaseResult> rows) {
            sb.append(f("%n%s (%d MoE layer calls per policy):%n", phase, rows.getFirst().calls()));
            sb.append(f("%-22s %9s %14s %13s %8s %12s %7s %6s  %s%n", "policy", "max/mean", "MoE layer (ms)", "critical (ms)",
                    "speedup", "range", "bound", "a2a%", "wait per rank (ms/call)"));
            for (PhaseResult p : rows) {
                sb.append(f("%-22s %9.2f %14.3f %13.3f %8.2f %12s %7.2f %6.1f  %s%n", p.policy(), p.maxOverMean(), p.layerMs(), p.criticalMs(),
                        p.speedup().median(), f("%.2f-%.2f", p.speedup().min(), p.speedup().max()), p.bound(),
                        100 * p.allToAllShare(), Arrays.stream(p.waitMsPerRank()).mapToObj(w -> f("%.2f", w)).toList()));
            }
        }
    }

    /** Runs the benchmark on every rank of {@code comm}; progress goes to {@code log} (null = quiet). */
    public static Result run(Config c, Communicator comm, PrintWriter log) throws IOException {
        try (CausalLM lm = Models.load(c.model())) {
            ModelConfig config = lm.config();
            int[] stream = broadcastTokens(c, comm, config);
            String data = c.text() == null ? "uniform random token ids (seed " + c.seed() + ")" : c.text().toString();
            int d = comm.size(), p = c.policies().size();
            List<List<MoeTiming>> sink = new ArrayList<>(List.of(new ArrayList<>()));
            DataParallelLM dp = new DataParallelLM(lm, comm, c.scope(), c.wire(), t -> sink.getFirst().add(t));
            List<RunOptions> runs = new ArrayList<>();
            for (Policy policy : c.policies()) runs.add(RunOptions.of(policy));
            long[] resident = new long[d];
            long own = dp.residentWeightBytes();
            int[] hi = new int[d], lo = new int[d];
            comm.allgather((int) (own >>> 32), hi);
            comm.allgather((int) own, lo);
            for (int r = 0; r < d; r++) resident[r] = ((long) hi[r] << 32) | (lo[r] & 0xFFFFFFFFL);
            int threads = Runtime.getRuntime().availableProcessors();
            String label = f("MPI ranks D=%d x %d core(s) each (as the JVM sees them), capacity scope %s, %s rows on the wire, batch %d tokens "
                    + "(%d-token sequences split over the ranks), %d measured + %d warm-up batches, %d decode steps per batch, "
                    + "policies in an order rotated per batch", d, threads, c.scope().label(), c.wire().label(), c.tokens(), c.seqLen(), c.batches(),
                    c.warmup(), c.decodeSteps());
            if (log != null) log.println("ep-bench: " + c.model() + ", " + label);

            // per measured call, in order: policy, batch, phase, layer (the same on every rank)
            List<int[]> tags = new ArrayList<>();
            List<MoeTiming> mine = new ArrayList<>();
            long t0 = System.nanoTime();
            int total = c.warmup() + c.batches();
            for (int b = 0; b < total; b++) {
                int[][] seqs = EpBench.sequences(stream, b * c.tokens(), c.tokens(), c.seqLen());
                for (int j = 0; j < p; j++) {
                    int i = (j + b) % p;
                    sink.getFirst().clear();
                    dp.forwardOwn(seqs, runs.get(i));
                    int prefillCalls = sink.getFirst().size();
                    // greedy's first new token comes from its own prefill pass: decodeSteps + 1 tokens = decodeSteps decode passes
                    if (c.decodeSteps() > 0) dp.greedy(seqs, c.decodeSteps() + 1, runs.get(i));
                    List<MoeTiming> got = sink.getFirst();
                    if (b < c.warmup()) continue;
                    // greedy's first pass is a prefill again (same as forwardOwn's): skip it
                    for (int k = 0; k < got.size(); k++) {
                        if (k >= prefillCalls && k < 2 * prefillCalls) continue;
                        Phase phase = k < prefillCalls ? Phase.PREFILL : Phase.DECODE;
                        tags.add(new int[] {i, b - c.warmup(), phase.ordinal(), got.get(k).layer()});
                        mine.add(got.get(k));
                    }
                }
                if (log != null) {
                    double el = (System.nanoTime() - t0) / 1e9;
                    log.printf(Locale.ROOT, "  batch %d/%d%s: %.0f tokens/s (all policies, prefill%s), ETA %.0f s%n", b + 1, total,
                            b < c.warmup() ? " (warm-up)" : "", (double) (b + 1) * c.tokens() * p / el,
                            c.decodeSteps() > 0 ? " + decode" : "", el / (b + 1) * (total - b - 1));
                    log.flush();
                }
            }
            List<Call> calls = gather(comm, tags, mine);
            List<PhaseResult> prefill = summarize(c, calls, Phase.PREFILL, d);
            List<PhaseResult> decode = c.decodeSteps() > 0 ? summarize(c, calls, Phase.DECODE, d) : List.of();
            return new Result(c, config, label, data, d, threads, resident, prefill, decode, calls);
        }
    }

    /** Rank 0 makes the stream, every rank receives it ({@link Communicator#share}). */
    private static int[] broadcastTokens(Config c, Communicator comm, ModelConfig config) throws IOException {
        byte[] ids = null;
        if (comm.rank() == 0) {
            int[] stream;
            if (c.text() == null) {
                SplittableRandom r = new SplittableRandom(c.seed());
                stream = new int[c.tokensNeeded()];
                for (int i = 0; i < stream.length; i++) stream[i] = r.nextInt(config.vocabSize());
            } else {
                stream = EpBench.tokenize(c.text(), c.model(), c.tokensNeeded());
            }
            ids = new byte[stream.length * 4];
            ByteBuffer.wrap(ids).asIntBuffer().put(stream);
        }
        ids = comm.share(ids, 0);
        int[] out = new int[ids.length / 4];
        ByteBuffer.wrap(ids).asIntBuffer().get(out);
        return out;
    }

    /** Allgathers every rank's timings ({@link MoeTiming#gather}) and tags each call; the calls line up across ranks because they are collective. */
    private static List<Call> gather(Communicator comm, List<int[]> tags, List<MoeTiming> mine) {
        List<List<MoeTiming>> byCall = MoeTiming.gather(comm, mine);
        List<Call> calls = new ArrayList<>(byCall.size());
        for (int k = 0; k < byCall.size(); k++) {
            int[] tag = tags.get(k);
            calls.add(new Call(tag[0], tag[1], Phase.values()[tag[2]], tag[3], byCall.get(k)));
        }
        return List.copyOf(calls);
    }

    private static List<PhaseResult> summarize(Config c, List<Call> calls, Phase phase, int d) {
        int p = c.policies().size();
        double[][] perBatch = new double[p][c.batches()];
        long[] maxRows = new long[p];
        double[] maxOverMean = new double[p], a2a = new double[p], total = new double[p], critical = new double[p];
        double[][][] stages = new double[p][d][5];
        int[] n = new int[p];
        List<java.util.SortedMap<Integer, double[][]>> perLayer = new ArrayList<>();
        List<java.util.Map<Integer, Integer>> perLayerCalls = new ArrayList<>();
        for (int i = 0; i < p; i++) {
            perLayer.add(new java.util.TreeMap<>());
            perLayerCalls.add(new java.util.HashMap<>());
        }
        for (Call call : calls) {
            if (call.phase() != phase) continue;
            int i = call.policy();
            double[][] layer = perLayer.get(i).computeIfAbsent(call.layer(), l -> new double[d][5]);
            perLayerCalls.get(i).merge(call.layer(), 1, Integer::sum);
            for (MoeTiming t : call.ranks()) {
                long[] s = {t.routerNs(), t.dispatchNs(), t.expertNs(), t.waitNs(), t.combineNs()};
                for (int j = 0; j < 5; j++) layer[t.rank()][j] += s[j] / 1e6;
            }
            perBatch[i][call.batch()] += call.layerNs();
            maxRows[i] += call.maxRows();
            critical[i] += call.criticalNs() / 1e6;
            maxOverMean[i] += call.maxOverMean();
            n[i]++;
            for (MoeTiming t : call.ranks()) {
                a2a[i] += t.allToAllNs();
                total[i] += t.totalNs();
                long[] s = {t.routerNs(), t.dispatchNs(), t.expertNs(), t.waitNs(), t.combineNs()};
                for (int j = 0; j < 5; j++) stages[i][t.rank()][j] += s[j] / 1e6;
            }
        }
        List<PhaseResult> out = new ArrayList<>();
        for (int i = 0; i < p; i++) {
            double[] speed = new double[c.batches()];
            for (int b = 0; b < speed.length; b++) speed[b] = perBatch[0][b] / perBatch[i][b];
            double[] sorted = speed.clone();
            Arrays.sort(sorted);
            int m = sorted.length;
            double median = m % 2 == 1 ? sorted[m / 2] : (sorted[m / 2 - 1] + sorted[m / 2]) / 2;
            for (var e : perLayer.get(i).entrySet()) {
                int count = perLayerCalls.get(i).get(e.getKey());
                for (double[] rank : e.getValue()) for (int j = 0; j < 5; j++) rank[j] /= count;
            }
            double[] wait = new double[d];
            for (int r = 0; r < d; r++) {
                for (int j = 0; j < 5; j++) stages[i][r][j] /= Math.max(1, n[i]);
                wait[r] = stages[i][r][3];
            }
            out.add(new PhaseResult(c.policies().get(i).label(), phase, n[i],
                    Arrays.stream(perBatch[i]).sum() / 1e6 / Math.max(1, n[i]), critical[i] / Math.max(1, n[i]),
                    new EpReplay.Speedup(median, sorted[0], sorted[m - 1]),
                    maxRows[i] == 0 ? 1 : (double) maxRows[0] / maxRows[i], maxOverMean[i] / Math.max(1, n[i]),
                    total[i] == 0 ? 0 : a2a[i] / total[i], wait, stages[i], perLayer.get(i)));
        }
        return List.copyOf(out);
    }

    static String f(String fmt, Object... args) { return String.format(Locale.ROOT, fmt, args); }
}
