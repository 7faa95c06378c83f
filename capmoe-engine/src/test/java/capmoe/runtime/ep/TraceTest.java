package capmoe.runtime.ep;

import capmoe.routing.Routing;
import capmoe.runtime.trace.RoutingTrace;
import capmoe.runtime.trace.TraceReader;
import capmoe.runtime.trace.TraceWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A routing trace reads back exactly what was recorded; a damaged file is named, never misread. */
class TraceTest {
    @TempDir Path dir;

    @Test
    void roundTripKeepsEveryLayerOfEveryBatch() {
        Path file = dir.resolve("t.trace");
        Routing[][] written = new Routing[2][3];
        try (TraceWriter w = new TraceWriter(file, new RoutingTrace.Header(40, 3, false, "none", "unit test"))) {
            for (int b = 0; b < 2; b++) {
                for (int layer = 0; layer < 3; layer++) {
                    written[b][layer] = TestRoutings.random(17 + b, 40, 3, TestRoutings.uniform(40), 10 * b + layer);
                    w.onRouting(layer, written[b][layer]);
                }
            }
            assertEquals(6, w.records());
        }
        RoutingTrace trace = TraceReader.read(file);
        assertEquals(new RoutingTrace.Header(40, 3, false, "none", "unit test"), trace.header());
        assertEquals(6, trace.records().size());
        assertEquals(2, trace.batches());
        for (int i = 0; i < 6; i++) {
            RoutingTrace.Record r = trace.records().get(i);
            Routing want = written[i / 3][i % 3];
            assertEquals(i / 3, r.batch(), "a new batch starts when the layer index goes back to 0");
            assertEquals(i % 3, r.layer());
            assertEquals(want.tokens(), r.routing().tokens());
            assertArrayEquals(want.offsets(), r.routing().offsets());
            assertArrayEquals(want.expertIds(), r.routing().expertIds());
            assertArrayEquals(want.weights(), r.routing().weights(), "weights are stored as exact float32");
        }
        // 16-byte record header + 1 byte per token + 6 bytes per pair
        long header = 8 + 16 + 2 + 4 + 2 + "unit test".length();
        long body = 0;
        for (Routing[] rs : written) for (Routing r : rs) body += 16 + r.tokens() + 6L * r.offsets()[r.tokens()];
        assertEquals(header + body, file.toFile().length(), "the documented size");
    }

    @Test
    void emptyTokensAndExpandedCountsSurvive() {
        Path file = dir.resolve("e.trace");
        Routing r = new Routing(3, 5, new int[]{0, 0, 4, 5}, new int[]{0, 1, 2, 4, 3}, new float[]{.1f, .2f, .3f, .4f, .5f}, null);
        try (TraceWriter w = new TraceWriter(file, new RoutingTrace.Header(5, 2, true, "expanded@1.5", ""))) {
            w.onRouting(1, r);
        }
        RoutingTrace t = TraceReader.read(file);
        assertTrue(t.header().normalizedWeights());
        assertArrayEquals(r.offsets(), t.records().get(0).routing().offsets());
    }

    @Test
    void damagedFilesAreReportedWithWhereAndWhat() throws IOException {
        Path file = dir.resolve("d.trace");
        try (TraceWriter w = new TraceWriter(file, new RoutingTrace.Header(8, 2, false, "none", "x"))) {
            w.onRouting(0, TestRoutings.random(10, 8, 2, TestRoutings.uniform(8), 1));
        }
        byte[] ok = Files.readAllBytes(file);

        Path cut = dir.resolve("cut.trace");
        Files.write(cut, Arrays.copyOf(ok, ok.length - 3));
        String m = assertThrows(IllegalArgumentException.class, () -> TraceReader.read(cut)).getMessage();
        assertTrue(m.contains("cut.trace") && m.contains("truncated"), m);

        Path notTrace = dir.resolve("text.trace");
        Files.writeString(notTrace, "hello world, not a trace");
        m = assertThrows(IllegalArgumentException.class, () -> TraceReader.read(notTrace)).getMessage();
        assertTrue(m.contains("not a capmoe routing trace"), m);

        Path badId = dir.resolve("id.trace");
        byte[] bad = ok.clone();
        int firstId = ok.length - 10 * 2 * 6; // ids start after the counts: P*2 bytes of ids + P*4 of weights = 6P from the end
        bad[firstId] = (byte) 200;
        Files.write(badId, bad);
        m = assertThrows(IllegalArgumentException.class, () -> TraceReader.read(badId)).getMessage();
        assertTrue(m.contains("names expert 200 of 8"), m);

        assertFalse(Files.exists(dir.resolve("missing.trace")));
        m = assertThrows(IllegalArgumentException.class, () -> TraceReader.read(dir.resolve("missing.trace"))).getMessage();
        assertTrue(m.contains("missing.trace") && m.contains("cannot read"), m);

        try (TraceWriter w = new TraceWriter(dir.resolve("w.trace"), new RoutingTrace.Header(5, 2, false, "none", ""))) {
            m = assertThrows(IllegalArgumentException.class, () -> w.onRouting(0, TestRoutings.random(2, 8, 2, TestRoutings.uniform(8), 1))).getMessage();
            assertTrue(m.contains("8 experts") && m.contains("says 5"), m);
        }
    }
}
