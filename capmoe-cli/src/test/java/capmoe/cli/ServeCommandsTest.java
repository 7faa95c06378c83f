package capmoe.cli;

import capmoe.serve.OpenAiServer;
import capmoe.serve.ServeOptions;
import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code serve} and {@code loadgen} from the command line: bad input is one line and exit code 2; loadgen prints its summary. */
class ServeCommandsTest {

    @Test
    void badOptionsAreOneLineAndExitTwo(@TempDir Path tmp) throws IOException {
        Path tiny = Shared.require("models/olmoe-tiny");
        CliRun r = CliRun.of("serve", "--model", tiny.toString(), "--decode-capacity", "maybe");
        assertEquals(2, r.exitCode());
        assertEquals("capmoe serve: error: --decode-capacity must be on or off, got 'maybe'", r.err().strip());
        r = CliRun.of("serve", "--model", tiny.toString(), "--max-running", "32", "--max-batch-tokens", "16");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("--max-batch-tokens (16) must be >= --max-running (32)"), r.err());
        r = CliRun.of("serve", "--model", tiny.toString(), "--devices", "64");
        assertEquals(2, r.exitCode());
        assertEquals("capmoe serve: error: --devices must be in 1..32 for 32 experts (got 64)", r.err().strip());
        try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            r = CliRun.of("serve", "--model", tiny.toString(), "--port", Integer.toString(taken.getLocalPort()));
            assertEquals(2, r.exitCode());
            assertTrue(r.err().contains("capmoe serve: error: cannot listen on 127.0.0.1:" + taken.getLocalPort()), r.err());
        }
        Path prompts = Files.writeString(tmp.resolve("p.txt"), "The sea\n\nOnce upon a time\n");
        r = CliRun.of("loadgen", "--prompt-file", prompts.toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("give either --url URL"), r.err());
        r = CliRun.of("loadgen", "--url", "http://127.0.0.1:9", "--prompt-file", tmp.resolve("missing.txt").toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().strip().startsWith("capmoe loadgen: error: --prompt-file " + tmp.resolve("missing.txt")), r.err());
    }

    @Test
    void loadgenMeasuresARunningServer(@TempDir Path tmp) throws IOException {
        Path prompts = Files.writeString(tmp.resolve("p.txt"), "The sea\n\nOnce upon a time\n");
        try (OpenAiServer server = OpenAiServer.start(ServeOptions.defaults(Shared.require("models/olmoe-tiny")).withSlots(2, 32, 8))) {
            CliRun r = CliRun.of("loadgen", "--url", server.url(), "--prompt-file", prompts.toString(),
                    "--requests", "4", "--concurrency", "2", "--max-tokens", "5");
            assertEquals(0, r.exitCode(), r.err());
            assertTrue(r.out().contains("4 ok   0 failed"), r.out());
            assertTrue(r.out().contains("TTFT p50/p95/p99") && r.out().contains("EP bound"), r.out());
        }
    }
}
