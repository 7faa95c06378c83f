package capmoe.eval;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProgressTest {

    @Test
    void finishPrintsACompleteBarWithZeroEta() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Progress p = new Progress(new PrintStream(bytes, true, StandardCharsets.UTF_8), "none piqa");
        p.start(400);
        p.advance(100);
        p.advance(300);
        p.finish();
        String out = bytes.toString(StandardCharsets.UTF_8);
        // fast work draws once, at the end, as a whole line (no carriage returns)
        assertEquals(1, out.lines().count(), out);
        assertTrue(out.startsWith("none piqa [" + "#".repeat(30) + "] 100% 400/400 tokens"), out);
        assertTrue(out.strip().endsWith("ETA 0:00:00") && !out.contains("\r"), out);
    }
}
