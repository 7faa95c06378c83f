package capmoe.cli;

import capmoe.model.CausalLM;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code capmoe logits}: the raw float32 file holds exactly the forward pass's logits; bad input is one line, exit 2. */
class LogitsCommandTest {
    @TempDir
    Path tmp;

    @Test
    void writesTheForwardPassLogits() throws IOException {
        Path olmoe = Shared.require("fixtures/hf/olmoe");
        Path out = tmp.resolve("l.f32");
        CliRun r = CliRun.of("logits", "--model", olmoe.toString(), "--prompt-ids", "5,9,200,31", "--quantize", "q8_0", "--out", out.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertEquals("5,9,200,31", r.out().strip());
        float[] expected;
        try (CausalLM m = Models.load(olmoe, null, capmoe.weights.DType.Q8_0)) {
            expected = m.forward(new int[][] {{5, 9, 200, 31}}, RunOptions.defaults())[0];
        }
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(out)).order(ByteOrder.LITTLE_ENDIAN);
        float[] got = new float[b.remaining() / 4];
        b.asFloatBuffer().get(got);
        assertArrayEquals(expected, got);

        CliRun bad = CliRun.of("logits", "--model", olmoe.toString(), "--out", out.toString());
        assertEquals(2, bad.exitCode());
        assertTrue(bad.err().contains("give either --text FILE or --prompt-ids IDS"), bad.err());
        Path truncated = Files.write(tmp.resolve("t.gguf"), new byte[] {'G', 'G', 'U', 'F', 3, 0});
        CliRun cut = CliRun.of("logits", "--model", truncated.toString(), "--prompt-ids", "1", "--out", out.toString());
        assertEquals(2, cut.exitCode());
        assertEquals(1, cut.err().strip().lines().count(), cut.err());
        assertTrue(cut.err().contains("truncated: the header needs 4 bytes at offset 4"), cut.err());
    }
}
