package capmoe.runtime.ep;

import capmoe.routing.Placement;
import capmoe.routing.Routing;
import capmoe.runtime.ExpertExecutor;
import capmoe.runtime.Experts;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;

/**
 * Times the MoE layer calls of several policies robustly: interleaved and repeated, so a speedup
 * does not compare two different moments of a busy machine.
 *
 * <p>A forward pass per policy records every MoE layer call it makes ({@link Recorder}: it
 * delegates, so outputs do not change). Then each repeat is one pass over the recorded calls in
 * which every call runs under every policy back to back through one expert-parallel executor, in
 * an order rotated by one policy per call and repeat, so JIT, GC, clock changes and other load hit
 * all policies alike. A repeat gives each policy an EP time (its calls summed) and a speedup over
 * the baseline from the same repeat; the reported speedup is the median over repeats, with their
 * range beside it, and a policy's EP time is the median of its repeats.
 */
public final class EpReplay {
    private EpReplay() { }

    /**
     * One MoE layer call: its input rows (a copy), its routing, and the placement it ran on
     * (null: the replay executor's own; a replicated layer's EPLB placement otherwise).
     */
    public record Call(int layer, Experts experts, float[] x, Routing routing, Placement placement) {
        public Call(int layer, Experts experts, float[] x, Routing routing) { this(layer, experts, x, routing, null); }
    }

    /** An executor that runs a delegate and records each call for replay. */
    public static final class Recorder implements ExpertExecutor {
        private final ExpertExecutor delegate;
        private final Map<Integer, Placement> layerPlacements;
        private final List<Call> calls = new ArrayList<>();

        public Recorder(ExpertExecutor delegate) {
            this(delegate, null);
        }

        /**
         * @param layerPlacements the placement each replicated layer runs on (what the replay
         *                        executes the call over); null: the delegate's, if it is a
         *                        {@link DeviceExpertExecutor}, else the replay executor's own
         */
        public Recorder(ExpertExecutor delegate, Map<Integer, Placement> layerPlacements) {
            this.delegate = delegate;
            this.layerPlacements = layerPlacements == null ? Map.of() : Map.copyOf(layerPlacements);
        }

        @Override
        public void run(int layer, Experts experts, float[] x, Routing routing, float[] out) {
            delegate.run(layer, experts, x, routing, out);
            Placement placement = layerPlacements.containsKey(layer) ? layerPlacements.get(layer)
                    : delegate instanceof DeviceExpertExecutor d ? d.placementOf(layer) : null;
            synchronized (calls) {
                calls.add(new Call(layer, experts, Arrays.copyOf(x, routing.tokens() * experts.hidden()), routing, placement));
            }
        }

        /** The executor every call runs through. */
        public ExpertExecutor delegate() { return delegate; }

        public List<Call> calls() {
            synchronized (calls) {
                return List.copyOf(calls);
            }
        }

        /** Forgets what was recorded (e.g. warm-up batches). */
        public void clear() {
            synchronized (calls) {
                calls.clear();
            }
        }
    }

    /** Reports replay progress: passes (warm-up and measured) done out of all. */
    @FunctionalInterface
    public interface Progress {
        Progress NONE = (done, total) -> { };

        void update(int done, int total);
    }

    /** One policy's measured calls: {@code byCall[call][repeat]}. */
    public record Timings(LayerTiming[][] byCall) {

        public int calls() { return byCall.length; }

        /** The calls of several timings (same repeats) as one sequence, e.g. the subjects of a task group. */
        public static Timings concat(List<Timings> parts) {
            List<LayerTiming[]> all = new ArrayList<>();
            for (Timings t : parts) all.addAll(Arrays.asList(t.byCall()));
            return new Timings(all.toArray(LayerTiming[][]::new));
        }

        public int repeats() { return byCall.length == 0 ? 0 : byCall[0].length; }

        /** The call's repeat with the median EP time (the lower one of the two middle for an even count): per-call detail. */
        public LayerTiming median(int call) {
            LayerTiming[] sorted = byCall[call].clone();
            Arrays.sort(sorted, Comparator.comparingDouble(LayerTiming::epSeconds));
            return sorted[(sorted.length - 1) / 2];
        }

        /** The median repeat of every call, in call order. */
        public List<LayerTiming> medians() {
            List<LayerTiming> m = new ArrayList<>(byCall.length);
            for (int c = 0; c < byCall.length; c++) m.add(median(c));
            return m;
        }

        /** Median over repeats of the repeat's EP time (its calls' critical paths + modelled all-to-all, summed). */
        public double epSeconds() {
            double[] r = new double[repeats()];
            for (int i = 0; i < r.length; i++) r[i] = repeatSeconds(i);
            return EpReplay.median(r);
        }

        /** Sum over calls of one repeat's EP time. */
        public double repeatSeconds(int repeat) {
            double s = 0;
            for (LayerTiming[] call : byCall) s += call[repeat].epSeconds();
            return s;
        }

        /** Sum of every device's compute over the median repeats, over the sum of their critical paths. */
        public double concurrency() {
            double dev = 0, crit = 0;
            for (LayerTiming t : medians()) {
                for (long v : t.deviceNanos()) dev += v;
                crit += t.criticalPathNanos();
            }
            return crit == 0 ? 0 : dev / crit;
        }
    }

    /**
     * A policy's speedup over a baseline: each repeat's baseline time over the policy's time in the
     * same repeat (measured interleaved), summarised by the median and the lowest and highest repeat.
     */
    public record Speedup(double median, double min, double max) {
        public static Speedup of(Timings baseline, Timings policy) {
            if (baseline.calls() != policy.calls() || baseline.repeats() != policy.repeats()) {
                throw new IllegalArgumentException("baseline has " + baseline.calls() + " calls x " + baseline.repeats()
                        + " repeats, the policy " + policy.calls() + " x " + policy.repeats());
            }
            double[] s = new double[policy.repeats()];
            for (int r = 0; r < s.length; r++) s[r] = baseline.repeatSeconds(r) / policy.repeatSeconds(r);
            double[] sorted = s.clone();
            Arrays.sort(sorted);
            return new Speedup(EpReplay.median(s), sorted[0], sorted[sorted.length - 1]);
        }

        /** Every policy's speedup over the first one (the baseline), from timings of one {@link #time} run. */
        public static List<Speedup> overFirst(List<Timings> timings) {
            return timings.stream().map(t -> of(timings.getFirst(), t)).toList();
        }

        /** Whether the measured median exceeds a load bound by more than {@code tolerance} (e.g. 0.05 = 5%). */
        public boolean above(double bound, double tolerance) {
            return Double.isFinite(bound) && median > bound * (1 + tolerance);
        }
    }

    /** The middle value (the mean of the two middle values for an even count). */
    static double median(double[] v) {
        if (v.length == 0) return Double.NaN;
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    /**
     * Replays each policy's recorded calls through one executor of the given devices and mode.
     * Every policy must have recorded the same sequence of layers (the same batches through the
     * same model).
     *
     * @param perPolicy recorded calls, one list per policy
     * @param repeats   measured repeats per call (>= 1)
     * @param warmup    unmeasured passes over every call before them (JIT, caches)
     */
    public static List<Timings> time(List<List<Call>> perPolicy, Devices devices, EpMode mode, CommModel comm,
                                     IntFunction<CoreShare> cores, int repeats, int warmup, Progress progress) {
        if (repeats < 1 || warmup < 0) throw new IllegalArgumentException("repeats must be >= 1 and warm-up >= 0 (got "
                + repeats + ", " + warmup + ")");
        int policies = perPolicy.size();
        int calls = alignedCalls(perPolicy);
        LayerTiming[][][] t = new LayerTiming[policies][calls][repeats];
        LayerTiming[] last = new LayerTiming[1];
        try (DeviceExpertExecutor ep = new DeviceExpertExecutor(devices, mode, comm, cores, (routing, timing) -> last[0] = timing)) {
            float[] out = new float[0];
            for (int r = -warmup; r < repeats; r++) {
                for (int c = 0; c < calls; c++) {
                    for (int i = 0; i < policies; i++) {
                        // rotate the order each repeat (and call): no policy always runs first or after the same one
                        int p = Math.floorMod(i + r + c, policies);
                        Call call = perPolicy.get(p).get(c);
                        int n = call.routing().tokens() * call.experts().hidden();
                        if (out.length < n) out = new float[n];
                        Arrays.fill(out, 0, n, 0f);
                        ep.run(call.layer(), call.experts(), call.x(), call.routing(),
                                call.placement() != null ? call.placement() : ep.placementOf(call.layer()), out);
                        if (r >= 0) t[p][c][r] = last[0];
                    }
                }
                progress.update(r + warmup + 1, repeats + warmup);
            }
        }
        List<Timings> result = new ArrayList<>(policies);
        for (int p = 0; p < policies; p++) result.add(new Timings(t[p]));
        return result;
    }

    /**
     * The number of calls each policy recorded, after checking that every policy recorded the same
     * sequence of layers (the same batches through the same model), which a replay needs.
     */
    public static int alignedCalls(List<List<Call>> perPolicy) {
        int policies = perPolicy.size();
        int calls = policies == 0 ? 0 : perPolicy.getFirst().size();
        for (int p = 0; p < policies; p++) {
            List<Call> list = perPolicy.get(p);
            if (list.size() != calls) {
                throw new IllegalArgumentException("policy " + p + " recorded " + list.size() + " MoE layer calls, policy 0 " + calls);
            }
            for (int c = 0; c < calls; c++) {
                if (list.get(c).layer() != perPolicy.getFirst().get(c).layer()) {
                    throw new IllegalArgumentException("call " + c + " is layer " + list.get(c).layer() + " for policy " + p
                            + " but layer " + perPolicy.getFirst().get(c).layer() + " for policy 0");
                }
            }
        }
        return calls;
    }
}
