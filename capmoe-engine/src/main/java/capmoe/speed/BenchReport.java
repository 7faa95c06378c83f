package capmoe.speed;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

import capmoe.kernels.MachinePeak;
import capmoe.runtime.PhaseClock;

/**
 * An {@link EngineBench.Result} as a console table and as JSON: both print the same values (the
 * best round, the range of rounds, the speedup over the first thread count, the fraction of peak).
 */
public record BenchReport(String model, double bytesPerWeight, EngineBench.Result result) {

    /** The table: one row per (test, threads), a note under any figure above its measured peak. */
    public String text() {
        StringBuilder s = new StringBuilder();
        EngineBench.Plan plan = result.plan();
        s.append(String.format(Locale.ROOT, "weights: %.3f bytes each; %d alternating rounds, best shown with the range; peaks are the best of %d runs%n",
                bytesPerWeight, plan.rounds(), plan.peakRuns()));
        MachinePeak.Arithmetic a = result.arithmetic();
        for (int i = 0; i < plan.threads().length; i++) {
            String matmul = a == MachinePeak.Arithmetic.FP32_FMA ? ""
                    : String.format(Locale.ROOT, ", %s %.1f GOP/s", a.instruction(), result.matmulOps()[i] / 1e9);
            s.append(String.format(Locale.ROOT, "machine peak, %d threads: fp32 FMA %.1f GFLOP/s%s, memory read %.1f GB/s%n",
                    plan.threads()[i], result.fmaFlops()[i] / 1e9, matmul, result.readBandwidth()[i] / 1e9));
        }
        s.append(String.format(Locale.ROOT, "%-7s %7s %12s %21s %9s %10s %14s %14s%n", "test", "threads", "tokens/s", "range", "speedup", "of peak", "alloc/token", "hand-offs/tok"));
        boolean over = false;
        for (EngineBench.Figure f : result.figures()) {
            double pct = 100 * f.fractionOfPeak();
            over |= pct > 100;
            s.append(String.format(Locale.ROOT, "%-7s %7d %12.1f %10.1f–%-10.1f %8.2fx %9.1f%% %14s %14.1f%s%n", f.test(), f.threads(), f.best(),
                    f.worst(), f.best(), speedup(f), pct, bytes(f.allocatedPerToken()), f.handOffsPerToken(), pct > 100 ? " !" : ""));
        }
        s.append("of peak: " + prefillPeakNote() + ", decode weight+cache bytes/s over the read bandwidth; speedup: over "
                + plan.threads()[0] + " thread(s), best rounds; alloc/token: Java heap allocated per token, all threads, fewest of the rounds (the timed steps only, not the session, its KV cache and, for decode, its prompt);"
                + " hand-offs/tok: phases the worker threads were woken for (each ends in a barrier), per token\n");
        if (over) s.append("! above 100% of the measured peak: the peak run was disturbed (or caches held the data); rerun\n");
        s.append(phases());
        return s.toString();
    }

    /** What prefill's "of peak" is set against, in words (the console legend and the JSON's "prefill_peak"). */
    public String prefillPeakNote() {
        MachinePeak.Arithmetic a = result.arithmetic();
        if (a == MachinePeak.Arithmetic.FP32_FMA) return "prefill FLOP/s over the fp32 FMA peak";
        return "prefill's ideal time over its measured time, the ideal being its matmuls at the " + a.instruction()
                + " peak and its attention (scores, p.v) at the fp32 FMA peak";
    }

    /**
     * Where the time goes: each test's share of wall time per {@link PhaseClock.Phase}, every timed
     * round together, and what the clock itself cost (its laps times one lap's measured cost).
     */
    String phases() {
        StringBuilder s = new StringBuilder("where the time goes (share of the timed rounds' wall time per stage):\n");
        s.append(String.format(Locale.ROOT, "%-7s %7s", "test", "threads"));
        for (PhaseClock.Phase p : PhaseClock.Phase.values()) s.append(String.format(Locale.ROOT, " %9s", p.label()));
        s.append(String.format(Locale.ROOT, " %11s%n", "clock cost"));
        for (EngineBench.Figure f : result.figures()) {
            s.append(String.format(Locale.ROOT, "%-7s %7d", f.test(), f.threads()));
            for (double x : f.phases().fractions()) s.append(String.format(Locale.ROOT, " %8.1f%%", 100 * x));
            s.append(String.format(Locale.ROOT, " %10.2f%%%n", 100 * clockCost(f)));
        }
        s.append(String.format(Locale.ROOT, "stages: the calling thread's wall time between one timestamp at the end of each stage of each layer"
                + " (parallel stages end in the team's barrier, so waiting counts); attention = projections to o_proj; router = logits + policy;"
                + " dispatch = sort + gather of rows; experts = their projections + SwiGLU; combine = weighted sum into token order;"
                + " lm head = final norm + logits; other = embeddings, residual adds and RMSNorms, argmax between decode steps;"
                + " clock cost = timestamps x %.0f ns (one System.nanoTime here) over the wall time%n", result.nanoTimeNanos()));
        return s.toString();
    }

    /** The share of {@code f}'s timed wall time its clock's own timestamps took. */
    public double clockCost(EngineBench.Figure f) {
        long total = f.phases().total();
        return total == 0 ? 0 : f.phases().laps() * result.nanoTimeNanos() / total;
    }

    /** Bytes in B, KB, MB (1000s). */
    static String bytes(double b) {
        if (b < 1e3) return String.format(Locale.ROOT, "%.0f B", b);
        if (b < 1e6) return String.format(Locale.ROOT, "%.1f KB", b / 1e3);
        return String.format(Locale.ROOT, "%.1f MB", b / 1e6);
    }

    /** Best tokens/s of {@code f} over the best of the same test at the plan's first thread count. */
    public double speedup(EngineBench.Figure f) {
        return f.best() / result.figure(f.test(), result.plan().threads()[0]).best();
    }

    /** JSON, written to a temp file beside {@code file} and renamed over it. */
    public void writeJson(Path file) {
        StringBuilder s = new StringBuilder();
        s.append("{\n  \"model\": \"").append(model.replace("\\", "\\\\").replace("\"", "\\\"")).append("\",\n");
        s.append(String.format(Locale.ROOT, "  \"bytes_per_weight\": %.4f,%n  \"rounds\": %d,%n", bytesPerWeight, result.plan().rounds()));
        s.append(String.format(Locale.ROOT, "  \"matmul_arithmetic\": \"%s\",%n  \"prefill_peak\": \"%s\",%n  \"peaks\": [",
                result.arithmetic().instruction(), prefillPeakNote()));
        for (int i = 0; i < result.plan().threads().length; i++) {
            s.append(i == 0 ? "\n" : ",\n").append(String.format(Locale.ROOT,
                    "    {\"threads\": %d, \"fma_flops\": %.6g, \"matmul_ops\": %.6g, \"read_bytes_per_s\": %.6g}",
                    result.plan().threads()[i], result.fmaFlops()[i], result.matmulOps()[i], result.readBandwidth()[i]));
        }
        s.append("\n  ],\n  \"figures\": [");
        boolean first = true;
        for (EngineBench.Figure f : result.figures()) {
            s.append(first ? "\n" : ",\n");
            first = false;
            StringBuilder rounds = new StringBuilder();
            for (double r : f.tokensPerSecond()) rounds.append(rounds.isEmpty() ? "" : ", ").append(String.format(Locale.ROOT, "%.3f", r));
            StringBuilder phases = new StringBuilder();
            double[] fr = f.phases().fractions();
            for (PhaseClock.Phase p : PhaseClock.Phase.values()) {
                phases.append(phases.isEmpty() ? "" : ", ").append(String.format(Locale.ROOT, "\"%s\": %.4f", p.label().replace(' ', '_'), fr[p.ordinal()]));
            }
            s.append(String.format(Locale.ROOT, "    {\"test\": \"%s\", \"threads\": %d, \"tokens_per_s\": [%s], \"best\": %.3f, \"speedup\": %.4f, \"fraction_of_peak\": %.4f, \"allocated_bytes_per_token\": %.1f, \"hand_offs_per_token\": %.2f, \"phases\": {%s}, \"clock_cost\": %.5f}",
                    f.test(), f.threads(), rounds, f.best(), speedup(f), f.fractionOfPeak(), f.allocatedPerToken(), f.handOffsPerToken(), phases, clockCost(f)));
        }
        s.append("\n  ]\n}\n");
        try {
            Path dir = file.toAbsolutePath().getParent();
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
            Files.writeString(tmp, s);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file + ": " + e.getMessage(), e);
        }
    }
}
