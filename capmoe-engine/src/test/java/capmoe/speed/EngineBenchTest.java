package capmoe.speed;

import capmoe.kernels.DotMode;
import capmoe.kernels.MachinePeak;
import capmoe.kernels.Parallel;
import capmoe.model.CausalLM;
import capmoe.model.Decoder;
import capmoe.model.Models;
import capmoe.runtime.PhaseClock;
import capmoe.testing.Shared;
import capmoe.weights.DType;
import capmoe.weights.LoadOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bench on the olmoe fixture: every (test, thread count) gets one figure per round, the
 * console table and the JSON carry the same best value and speedup, and the bytes per weight
 * follow the checkpoint's dtype; the peak a prefill is set against is that of the arithmetic its
 * matmuls run (int8 dot for Q8_0 in reduced mode), measured positive and stable.
 */
class EngineBenchTest {

    @Test
    void figuresPerTestAndThreadCountAndTheSameNumbersInTextAndJson(@TempDir Path tmp) throws Exception {
        try (CausalLM model = Models.load(Shared.require("fixtures/hf/olmoe"))) {
            double bpw = EngineBench.bytesPerWeight(((Decoder) model).checkpoint());
            assertTrue(bpw == 2 || bpw == 4, "a bf16 or f32 checkpoint: " + bpw);
            EngineBench.Plan plan = new EngineBench.Plan(new int[] {1, 2}, new int[] {5, 9}, 3, 2, 1, 64L << 20);
            assertEquals(MachinePeak.Arithmetic.FP32_FMA, EngineBench.arithmetic(((Decoder) model).checkpoint()), "exact mode: fp32 FMA");
            EngineBench.Result r = EngineBench.run(model, bpw, MachinePeak.Arithmetic.FP32_FMA, plan, line -> { });
            assertEquals(2 * 3, r.figures().size(), "pp5, pp9, tg3 at 1 and 2 threads");
            for (EngineBench.Figure f : r.figures()) {
                assertEquals(2, f.tokensPerSecond().length, f.test() + " has one value per round");
                for (double v : f.tokensPerSecond()) assertTrue(v > 0 && Double.isFinite(v), f.test() + ": " + v);
                assertTrue(f.fractionOfPeak() > 0, f.test());
            }
            assertEquals(1.0, new BenchReport("m", bpw, r).speedup(r.figure("tg3", 1)), 0);
            BenchReport report = new BenchReport("fixture \"olmoe\"", bpw, r);
            Path json = tmp.resolve("out/bench.json");
            report.writeJson(json);
            String js = Files.readString(json);
            EngineBench.Figure pp9 = r.figure("pp9", 2);
            assertTrue(js.contains(String.format(java.util.Locale.ROOT, "\"test\": \"pp9\", \"threads\": 2, ") ), js);
            assertTrue(js.contains(String.format(java.util.Locale.ROOT, "\"best\": %.3f, \"speedup\": %.4f", pp9.best(), report.speedup(pp9))), js);
            assertTrue(js.contains("fixture \\\"olmoe\\\""), "the model name is escaped");
            assertTrue(report.text().contains(String.format(java.util.Locale.ROOT, "%.1f", pp9.best())), report.text());
            for (EngineBench.Figure f : r.figures()) {
                double[] fr = f.phases().fractions();
                assertEquals(1.0, java.util.Arrays.stream(fr).sum(), 1e-9, f.test() + ": the phases cover the timed wall time");
                for (PhaseClock.Phase p : new PhaseClock.Phase[] {PhaseClock.Phase.ATTENTION, PhaseClock.Phase.ROUTER, PhaseClock.Phase.EXPERTS,
                        PhaseClock.Phase.COMBINE, PhaseClock.Phase.LM_HEAD}) {
                    assertTrue(fr[p.ordinal()] > 0, f.test() + " at " + f.threads() + " threads: no time in " + p.label());
                }
                // the fixture's steps take microseconds (hidden 64), so its laps weigh far more than on a real model
                // (olmoe-tiny decode on the device: under 1%); still well under the phases they split
                assertTrue(report.clockCost(f) > 0 && report.clockCost(f) < 0.25, f.test() + ": the clock's own cost " + report.clockCost(f));
            }
            double[] fr = pp9.phases().fractions();
            assertTrue(js.contains(String.format(java.util.Locale.ROOT, "\"phases\": {\"attention\": %.4f, \"router\": %.4f", fr[0], fr[1])), js);
            String row = String.format(java.util.Locale.ROOT, "%-7s %7d %8.1f%% %8.1f%%", "pp9", 2, 100 * fr[0], 100 * fr[1]);
            assertTrue(report.text().contains(row), "console row '" + row + "' in\n" + report.text());
            try (var files = Files.list(json.getParent())) {
                assertEquals(1, files.count(), "no temp file left beside the JSON");
            }
        }
    }

    @Test
    void reducedPrefillIsSetAgainstThePeakOfItsOwnArithmetic(@TempDir Path tmp) throws Exception {
        assertEquals(MachinePeak.Arithmetic.BF16_DOT, MachinePeak.Arithmetic.of(DType.BF16, DotMode.REDUCED));
        assertEquals(MachinePeak.Arithmetic.INT8_DOT, MachinePeak.Arithmetic.of(DType.Q4_0, DotMode.REDUCED));
        assertEquals(MachinePeak.Arithmetic.FP32_FMA, MachinePeak.Arithmetic.of(DType.F16, DotMode.REDUCED), "F16 has no reduced form");
        assertEquals(MachinePeak.Arithmetic.FP32_FMA, MachinePeak.Arithmetic.of(DType.Q8_0, DotMode.EXACT));
        try (CausalLM model = Models.load(Shared.require("fixtures/hf/olmoe"), null, new LoadOptions(DType.Q8_0, DotMode.REDUCED))) {
            Decoder d = (Decoder) model;
            MachinePeak.Arithmetic a = EngineBench.arithmetic(d.checkpoint());
            assertEquals(MachinePeak.Arithmetic.INT8_DOT, a, "Q8_0 weights in reduced mode run int8 dot products");
            EngineBench.Plan plan = new EngineBench.Plan(new int[] {1}, new int[] {7}, 2, 1, 2, 64L << 20);
            EngineBench.Result r = EngineBench.run(model, EngineBench.bytesPerWeight(d.checkpoint()), a, plan, line -> { });
            EngineBench.Figure pp = r.figure("pp7", 1);
            double fma = r.fmaFlops()[0], int8 = r.matmulOps()[0];
            assertTrue(fma > 0 && int8 > 0 && Double.isFinite(int8), "peaks " + fma + ", " + int8);
            // one computation: the figure's peak is the matmuls at the int8 peak and the attention at the FMA peak
            assertEquals(EngineBench.prefillPeak(model.config(), 7, int8, fma), pp.peak(), 0);
            double m = EngineBench.prefillMatmulFlops(model.config(), 7), att = EngineBench.prefillAttentionFlops(model.config(), 7);
            assertEquals(EngineBench.prefillFlops(model.config(), 7), m + att, 1e-6 * (m + att));
            assertEquals(pp.best() / 7 * (m / int8 + att / fma), pp.fractionOfPeak(), 1e-9 * pp.fractionOfPeak(), "ideal time over measured time");
            BenchReport report = new BenchReport("q8", 1.0625, r);
            assertTrue(report.text().contains(a.instruction()), report.text());
            Path json = tmp.resolve("q8.json");
            report.writeJson(json);
            String js = Files.readString(json);
            assertTrue(js.contains("\"matmul_arithmetic\": \"" + a.instruction() + "\""), js);
            assertTrue(js.contains(String.format(java.util.Locale.ROOT, "\"fraction_of_peak\": %.4f", pp.fractionOfPeak())), js);
        }
    }

    @Test
    void instructionPeaksArePositiveAndStable() {
        try (Parallel one = new Parallel(1)) {
            for (MachinePeak.Arithmetic a : MachinePeak.Arithmetic.values()) {
                double p1 = MachinePeak.peakOps(one, a, 3), p2 = MachinePeak.peakOps(one, a, 3);
                assertTrue(p1 > 1e8 && Double.isFinite(p1) && p2 > 1e8 && Double.isFinite(p2), a.instruction() + ": " + p1 + ", " + p2);
                // each the best of 3 runs: other load only slows a run, so two bests agree far closer than this
                assertTrue(Math.max(p1, p2) / Math.min(p1, p2) < 2, a.instruction() + " not stable: " + p1 + " vs " + p2);
            }
        }
    }
}
