package capmoe.runtime;

import java.util.Arrays;
import java.util.Locale;

/**
 * Where a forward step's wall time goes: the step's calling thread takes one timestamp at the end
 * of each stage of each layer ({@link #lap}) and adds the time since the previous one to that
 * stage's {@link Phase}. Every parallel stage ends in the team's barrier ({@link
 * capmoe.kernels.Parallel}), so the caller's wall time between two laps is the stage's time on
 * all threads, waiting included; the phases of a timed section add up to its wall time.
 *
 * <p>Use: {@link #time} runs a section with this clock bound to the calling thread (a
 * {@link ScopedValue}); the engine's stages call the static {@link #lap}, which does nothing
 * when no clock is bound (one {@code isBound} check), so the clock costs nothing outside
 * {@code capmoe bench}. With a clock bound a lap is one {@link System#nanoTime} call: a few per
 * layer, never per row or per task ({@link #laps} counts them, {@link #nanoTimeCost} measures one).
 *
 * <p>Steps of a layer, and the lap that ends each ({@code model.Decoder}, {@code nn.SparseMoeBlock},
 * {@link LocalExpertExecutor}, {@link SwiGluExperts}):
 * <ol>
 *   <li>input RMSNorm (with the residual add before it): {@link Phase#OTHER};</li>
 *   <li>the attention block, projections to o_proj: {@link Phase#ATTENTION};</li>
 *   <li>residual add + post-attention RMSNorm: {@link Phase#OTHER};</li>
 *   <li>router logits and the routing policy: {@link Phase#ROUTER};</li>
 *   <li>the counting sort of kept pairs and the gather of their rows (Q8_0/Q4_0 experts round the
 *       rows as they gather them): {@link Phase#DISPATCH};</li>
 *   <li>the experts' projections (and a shared expert, or a dense MLP): {@link Phase#EXPERTS};</li>
 *   <li>the weighted sum back into token order: {@link Phase#COMBINE}.</li>
 * </ol>
 * A step starts with the embedding lookup ({@link Phase#OTHER}) and ends with the final norm and
 * LM head ({@link Phase#LM_HEAD}); the time after the last lap of a section (e.g. a decode loop's
 * argmax) is {@link Phase#OTHER}. An executor without laps of its own (in-JVM devices, MPI ranks)
 * puts dispatch, experts and combine all under {@link Phase#EXPERTS}.
 */
public final class PhaseClock {

    /** A stage of the step, as the bench reports it. */
    public enum Phase {
        ATTENTION("attention"), ROUTER("router"), DISPATCH("dispatch"), EXPERTS("experts"), COMBINE("combine"),
        LM_HEAD("lm head"), OTHER("other");

        private final String label;

        Phase(String label) { this.label = label; }

        /** The name in the console and JSON. */
        public String label() { return label; }
    }

    private static final ScopedValue<PhaseClock> CURRENT = ScopedValue.newInstance();
    private static final Phase[] PHASES = Phase.values();

    private final long[] nanos = new long[PHASES.length];
    private long laps;
    private long last;

    /** Ends the current stage as {@code phase} if a clock is bound to this thread. */
    public static void lap(Phase phase) {
        if (CURRENT.isBound()) CURRENT.get().add(phase);
    }

    private void add(Phase phase) {
        long now = System.nanoTime();
        nanos[phase.ordinal()] += now - last;
        last = now;
        laps++;
    }

    /** Runs {@code section} on this thread with this clock bound; its wall time is added to the phases (what follows the last lap: OTHER). */
    public void time(Runnable section) {
        last = System.nanoTime();
        ScopedValue.where(CURRENT, this).run(section);
        add(Phase.OTHER);
    }

    /** Nanoseconds in {@code phase} over every timed section so far. */
    public long nanos(Phase phase) { return nanos[phase.ordinal()]; }

    /** Nanoseconds of every timed section so far (the phases' sum). */
    public long total() { return Arrays.stream(nanos).sum(); }

    /** Timestamps taken so far. */
    public long laps() { return laps; }

    /** {@code phase}'s share of the timed sections (0 when nothing was timed). */
    public double fraction(Phase phase) {
        long t = total();
        return t == 0 ? 0 : nanos(phase) / (double) t;
    }

    /** Every phase's share, in {@link Phase} order: what the bench prints and writes. */
    public double[] fractions() {
        double[] f = new double[PHASES.length];
        for (Phase p : PHASES) f[p.ordinal()] = fraction(p);
        return f;
    }

    /** Mean cost of one {@link System#nanoTime} call on this machine, in ns (best of 5 runs of 100,000): a lap's cost. */
    public static double nanoTimeCost() {
        double best = Double.MAX_VALUE;
        long sink = 0;
        for (int run = 0; run < 5; run++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < 100_000; i++) sink += System.nanoTime();
            best = Math.min(best, (System.nanoTime() - t0) / 100_000.0);
        }
        if (sink == 42) System.out.print("");    // keeps the loop
        return best;
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder();
        for (Phase p : PHASES) s.append(String.format(Locale.ROOT, "%s %.1f%% ", p.label(), 100 * fraction(p)));
        return s.toString().trim();
    }
}
