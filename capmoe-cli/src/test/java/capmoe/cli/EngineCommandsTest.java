package capmoe.cli;

import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** info, check and generate on the OLMoE fixture, and their user errors (one line, exit 2). */
class EngineCommandsTest {
    @TempDir
    Path tmp;

    private final Path olmoe = Shared.require("fixtures/hf/olmoe");

    @Test
    void infoDescribesTheCheckpoint() {
        CliRun r = CliRun.of("info", "--model", olmoe.toString());
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("architecture   olmoe"), r.out());
        assertTrue(r.out().contains("layers         2 (2 MoE)"), r.out());
        assertTrue(r.out().contains("16 routed per MoE layer, top-4"), r.out());
        // 117 tensors, 281,152 bf16 values: 2 layers x 16 experts x 3 x 32 x 64 in the experts
        assertTrue(r.out().contains("281.2K total") && r.out().contains("196.6K in routed experts"), r.out());
    }

    /** --quantize belongs to --model (ModelOption): info names the dtypes as loaded, the routers and norms staying BF16. */
    @Test
    void infoShowsTheDtypesAsQuantizedAtLoad() {
        CliRun r = CliRun.of("info", "--model", olmoe.toString(), "--quantize", "q8_0");
        assertEquals(0, r.exitCode(), r.err());
        // 2 routers of 16 x 64 and 9 norms of 64 (q, k, input and post-attention per layer, the final one) stay BF16: 2*1024 + 9*64
        assertTrue(r.out().contains("dtypes         {BF16=2624, Q8_0=278528}"), r.out());
    }

    @Test
    void checkPassesOnTheFixtureAndFailsOnAWrongReference() throws IOException {
        CliRun ok = CliRun.of("check", "--model", olmoe.toString(), "--reference", olmoe.resolve("reference.safetensors").toString());
        assertEquals(0, ok.exitCode(), ok.out() + ok.err());
        assertTrue(ok.out().contains("9 passed, 0 failed"), ok.out());
        assertTrue(ok.out().contains("generate.output"), ok.out());

        // the Mixtral reference recorded on other weights must fail against OLMoE's weights
        Path wrong = Shared.require("fixtures/hf/mixtral/reference.safetensors");
        CliRun bad = CliRun.of("check", "--model", olmoe.toString(), "--reference", wrong.toString());
        assertEquals(1, bad.exitCode(), bad.out() + bad.err());
        assertTrue(bad.out().contains("FAIL") && bad.out().matches("(?s).*\\d+ passed, [1-9]\\d* failed.*"), bad.out());

        CliRun missing = CliRun.of("check", "--model", olmoe.toString(), "--reference", tmp.resolve("nope.safetensors").toString());
        assertEquals(2, missing.exitCode());
        assertTrue(missing.err().contains("does not exist"), missing.err());
    }

    @Test
    void generateReproducesTheRecordedGreedyTokens() {
        CliRun r = CliRun.of("generate", "--model", olmoe.toString(), "--prompt-ids", "303,196,25,374,67,339,23,359",
                "--max-tokens", "12");
        assertEquals(0, r.exitCode(), r.err());
        assertEquals("167,89,141,106,270,46,367,297,30,316,169,89", r.out().strip());
        assertTrue(r.err().contains("tok/s"), r.err());
    }

    @Test
    void userErrorsAreOneLine() throws IOException {
        CliRun r = CliRun.of("info", "--model", tmp.toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("no config.json"), r.err());
        Files.writeString(tmp.resolve("config.json"), "{\"model_type\": \"gpt2\"}");
        r = CliRun.of("generate", "--model", tmp.toString(), "--prompt-ids", "1");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("unknown model_type \"gpt2\""), r.err());
        r = CliRun.of("generate", "--model", olmoe.toString(), "--prompt-ids", "1", "--strategy", "bogus");
        assertEquals(2, r.exitCode(), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }

    @Test
    void generateFromTextUsesTheModelsTokenizer() {
        Path tiny = Shared.require("models/olmoe-tiny");
        CliRun r = CliRun.of("generate", "--model", tiny.toString(), "--prompt", "The king said", "--max-tokens", "6",
                "--strategy", "score", "--gamma", "1.5", "--ignore-eos");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().strip().length() > 0, "some text was generated: " + r.out());
        assertTrue(r.err().contains("policy score@1.5") && r.err().contains("6 new tokens"), r.err());
        // a full policy spec, as every other command takes it
        CliRun spec = CliRun.of("generate", "--model", tiny.toString(), "--prompt-ids", "1,2,3", "--max-tokens", "2",
                "--strategy", "random@1.5:seed=3", "--ignore-eos");
        assertEquals(0, spec.exitCode(), spec.err());
        assertTrue(spec.err().contains("policy random@1.5:seed=3"), spec.err());
        CliRun twice = CliRun.of("generate", "--model", tiny.toString(), "--prompt-ids", "1", "--strategy", "score@1.5", "--gamma", "2");
        assertEquals(2, twice.exitCode());
        assertTrue(twice.err().contains("--gamma goes with a bare --strategy name"), twice.err());
        CliRun both = CliRun.of("generate", "--model", tiny.toString(), "--prompt", "x", "--prompt-ids", "1");
        assertEquals(2, both.exitCode());
        assertTrue(both.err().contains("either --prompt TEXT or --prompt-ids"), both.err());
    }

    @Test
    void maxTokensIsCheckedAgainstTheContext() {
        for (String n : new String[] {"0", "-3"}) {
            CliRun r = CliRun.of("generate", "--model", olmoe.toString(), "--prompt-ids", "1,2", "--max-tokens", n);
            assertEquals(2, r.exitCode());
            assertEquals("capmoe generate: error: --max-tokens must be >= 1 (got " + n + ")", r.err().strip());
        }
        for (String n : new String[] {"2147483647", "100000"}) {
            CliRun r = CliRun.of("generate", "--model", olmoe.toString(), "--prompt-ids", "1,2", "--max-tokens", n);
            assertEquals(2, r.exitCode(), r.err());
            assertTrue(r.err().contains("the prompt (2 tokens) + --max-tokens " + n + " exceeds the model's context of"), r.err());
            assertEquals(1, r.err().strip().lines().count(), r.err());
        }
    }

    @Test
    void infoOnAnIncompleteCheckpointIsAnError() throws IOException {
        // the OLMoE fixture with one expert's up_proj missing: the counts would be wrong
        Files.copy(olmoe.resolve("config.json"), tmp.resolve("config.json"));
        String missing = "model.layers.1.mlp.experts.3.up_proj.weight";
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            java.util.List<capmoe.weights.SafeTensorsWriter.Entry> entries = new java.util.ArrayList<>();
            for (capmoe.weights.Tensor t : capmoe.weights.SafeTensorsFile.open(olmoe.resolve("model.safetensors"), arena).tensors().values()) {
                if (t.name().equals(missing)) continue;
                entries.add(new capmoe.weights.SafeTensorsWriter.Entry(t.name(), t.dtype(), t.shape(), (out, first) -> {
                    long off = first * t.dtype().size();
                    out.put(t.data().asSlice(off, out.remaining()).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                }));
            }
            capmoe.weights.SafeTensorsWriter.write(tmp.resolve("model.safetensors"), null, entries);
        }
        CliRun r = CliRun.of("info", "--model", tmp.toString());
        assertTrue(r.err().contains("tensor " + missing + " is missing"), r.err() + " | " + r.out() + " | " + r.exitCode());
        assertEquals(2, r.exitCode(), r.out());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.out().isEmpty(), "no counts printed: " + r.out());
    }

    @picocli.CommandLine.Command(name = "boom")
    static final class Boom implements java.util.concurrent.Callable<Integer> {
        @Override
        public Integer call() {
            return 1 / (int) (System.nanoTime() * 0);   // a bug: / by zero
        }
    }

    @Test
    void internalErrorsSaySoAndAreNotBlamedOnTheUser() {
        java.io.StringWriter err = new java.io.StringWriter();
        int code = new picocli.CommandLine(new Boom()).setExecutionExceptionHandler(new CleanErrors())
                .setErr(new java.io.PrintWriter(err, true)).execute();
        assertEquals(CleanErrors.INTERNAL, code);
        assertEquals("capmoe boom: internal error (a bug in capmoe, not in your input): ArithmeticException: / by zero; "
                + "rerun with CAPMOE_DEBUG=1 for the stack trace", err.toString().strip());
    }

    @Test
    void everyCommandsHelpPrintsWithoutPicocliWarnings() {
        for (String name : new picocli.CommandLine(new Main()).getSubcommands().keySet()) {
            if (name.equals("help")) continue;
            CliRun r = CliRun.of(name, "--help");
            assertEquals(0, r.exitCode(), name + ": " + r.err());
            assertTrue(!r.err().contains("[picocli WARN]") && !r.out().contains("[picocli WARN]"), name + ": " + r.err() + r.out());
            assertTrue(r.out().contains("Usage: ") && r.out().lines().count() > 3, name + ": " + r.out());
        }
    }
}
