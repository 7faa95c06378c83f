package capmoe.runtime.ep;

import capmoe.model.CausalLM;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Policy;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The benchmark model writer produces a checkpoint the engine loads, with loads as uneven as asked. */
class SkewedOlmoeTest {
    @TempDir Path dir;

    static double expertMaxOverMean(Path model) {
        try (CausalLM lm = Models.load(model)) {
            assertEquals("olmoe", lm.config().modelType());
            int e = lm.config().numExperts();
            long[] load = new long[e];
            RunOptions opts = RunOptions.of(new Policy.None()).withListener((layer, routing) -> {
                for (int id : routing.expertIds()) load[id]++;
            });
            int[][] batch = new int[4][64];
            for (int b = 0; b < 4; b++) for (int t = 0; t < 64; t++) batch[b][t] = (b * 64 + t) * 7 % lm.config().vocabSize();
            float[][] logits = lm.forward(batch, opts);
            for (float v : logits[0]) assertTrue(Float.isFinite(v), "finite logits");
            long max = 0, sum = 0;
            for (long v : load) {
                max = Math.max(max, v);
                sum += v;
            }
            return (double) max * e / sum;
        }
    }

    @Test
    void skewedRouterMakesLoadsUneven() {
        SkewedOlmoe.Shape tiny = new SkewedOlmoe.Shape(1, 64, 32, 4, 32, 4, 256);
        SkewedOlmoe.write(dir.resolve("flat"), tiny, 0.0, 1);
        SkewedOlmoe.write(dir.resolve("skewed"), tiny, 1.0, 1);
        double flat = expertMaxOverMean(dir.resolve("flat"));
        double skewed = expertMaxOverMean(dir.resolve("skewed"));
        // 256 tokens x top-4 over 32 experts: sampling alone gives max/mean ~1.5; skew 1.0 concentrates on a few experts
        assertTrue(skewed > flat + 0.5, "max/mean flat " + flat + ", skewed " + skewed);
        assertTrue(skewed > 2.3, "skewed router max/mean " + skewed);
    }
}
