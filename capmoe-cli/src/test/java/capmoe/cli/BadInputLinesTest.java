package capmoe.cli;

import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Inputs of #13 that still gave a second line of parser internals, a Java exception name or a
 * silently accepted value: each now ends in exit code 2 and one line naming the file or key.
 */
class BadInputLinesTest {
    @TempDir Path tmp;

    private final Path olmoe = Shared.require("fixtures/hf/olmoe");
    private final Path tiny = Shared.require("models/olmoe-tiny");

    /** A copy of {@code model} (links to its files) with {@code name} replaced by {@code text}. */
    private Path withFile(Path model, String name, String text) throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("m" + Math.abs((name + text).hashCode())));
        try (var files = Files.list(model)) {
            for (Path f : files.toList()) if (!f.getFileName().toString().equals(name)) Files.createSymbolicLink(dir.resolve(f.getFileName()), f.toAbsolutePath());
        }
        Files.writeString(dir.resolve(name), text);
        return dir;
    }

    private static void oneLine(CliRun r, String command, String... parts) {
        assertEquals(2, r.exitCode(), r.out() + r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        assertTrue(r.err().startsWith("capmoe " + command + ": error: "), r.err());
        for (String p : parts) assertTrue(r.err().contains(p), "'" + p + "' in: " + r.err());
        assertTrue(!r.err().contains("Exception") && !r.err().contains("REDACTED"), r.err());
    }

    @Test
    void aBrokenTokenizerJsonIsOneLineWithItsPosition() throws IOException {
        Path m = withFile(tiny, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\n");
        oneLine(CliRun.of("generate", "--model", m.toString(), "--prompt", "hi", "--max-tokens", "1"), "generate",
                m.resolve("tokenizer.json") + " is not valid JSON", "at line 2, column");
    }

    @Test
    void aBrokenShardIndexIsOneLineWithItsPosition() throws IOException {
        Path m = withFile(Shared.require("models/olmoe-small"), "model.safetensors.index.json", "{\"weight_map\": {\n");
        oneLine(CliRun.of("info", "--model", m.toString()), "info", "model.safetensors.index.json is not valid JSON", "at line 2");
    }

    @Test
    void dtypeAndTorchDtypeAreBothCheckedAndMustAgree() throws IOException {
        String config = Files.readString(olmoe.resolve("config.json"));
        Path bad = withFile(olmoe, "config.json", config.replace("\"dtype\": \"bfloat16\",", "\"dtype\": \"bfloat16\", \"torch_dtype\": \"float13\","));
        oneLine(CliRun.of("info", "--model", bad.toString()), "info", "key \"torch_dtype\" is \"float13\"");
        Path both = withFile(olmoe, "config.json", config.replace("\"dtype\": \"bfloat16\",", "\"dtype\": \"bfloat16\", \"torch_dtype\": \"float32\","));
        oneLine(CliRun.of("info", "--model", both.toString()), "info", "keys \"dtype\" (bfloat16) and \"torch_dtype\" (float32) disagree");
    }

    @Test
    void aBinaryOrEmptyPromptFileNamesTheFile() throws IOException {
        Path binary = Files.write(tmp.resolve("prompts.bin"), new byte[] {(byte) 0xff, (byte) 0xfe, 0, 7, (byte) 0xc3, 10});
        oneLine(CliRun.of("loadgen", "--url", "http://127.0.0.1:9", "--prompt-file", binary.toString()), "loadgen",
                "--prompt-file " + binary + " is not UTF-8 text");
        Path empty = Files.writeString(tmp.resolve("empty.txt"), "\n  \n");
        oneLine(CliRun.of("loadgen", "--url", "http://127.0.0.1:9", "--prompt-file", empty.toString()), "loadgen",
                "--prompt-file " + empty + " has no prompt");
    }

    @Test
    void aBinaryPlacementFileIsNotUtf8Text() throws IOException {
        Path probs = Files.writeString(tmp.resolve("p.json"), "[[0.1, 0.9], [0.5, 0.5]]");
        Path binary = Files.write(tmp.resolve("place.bin"), new byte[] {(byte) 0xff, (byte) 0xfe, 0, 7});
        oneLine(CliRun.of("route", "--probs", probs.toString(), "--strategy", "score", "-k", "1", "--placement-file", binary.toString()),
                "route", "placement file " + binary + " is not UTF-8 text");
        Path binaryProbs = Files.write(tmp.resolve("probs.bin"), new byte[] {'[', (byte) 0xc3, '(', ']'});
        oneLine(CliRun.of("route", "--probs", binaryProbs.toString(), "--strategy", "score"), "route", binaryProbs + " is not UTF-8 text");
    }

    /** ep-bench's placement file is read as route's is (Placement.read): a binary file, a bad id, a device beyond --devices. */
    @Test
    void epBenchPlacementFilesSayWhatIsWrong() throws IOException {
        Path binary = Files.write(tmp.resolve("place.bin"), new byte[] {(byte) 0xff, (byte) 0xfe, 0, 7});
        String[] run = {"ep-bench", "--model", olmoe.toString(), "--random-tokens", "--devices", "4", "--tokens", "32", "--batches", "1",
                "--repeats", "1", "--decode-steps", "0", "--json", tmp.resolve("e.json").toString(), "--html", tmp.resolve("e.html").toString(),
                "--placement"};
        oneLine(CliRun.of(append(run, binary.toString())), "ep-bench", "placement file " + binary + " is not UTF-8 text");
        Path beyond = Files.writeString(tmp.resolve("place.txt"), "0 0 0 0 1 1 1 1 2 2 2 2 3 3 3 4  # 16 experts, ids 0..4\n");
        oneLine(CliRun.of(append(run, beyond.toString())), "ep-bench", "expert 15 is on device 4, outside 0..3 (--devices 4)");
        Path word = Files.writeString(tmp.resolve("word.txt"), "0 0 0 0\n1 1 x 1\n");
        oneLine(CliRun.of(append(run, word.toString())), "ep-bench", "line 2: 'x' is not a device id");
    }

    /** ep-bench's --batch counted tokens while eval's and demo's count sequences: it is --tokens now, and the old spelling says so. */
    @Test
    void epBenchBatchIsNowTokens() {
        oneLine(CliRun.of("ep-bench", "--model", olmoe.toString(), "--random-tokens", "--batch", "32"), "ep-bench",
                "--batch is now --tokens 32 (tokens per MoE layer call; --batch counts sequences in eval and demo)");
    }

    /** --dot takes exact or reduced; anything else is one line naming the option, in every command that loads a model. */
    @Test
    void anUnknownDotModeIsOneLineNamingTheOption() {
        oneLine(CliRun.of("info", "--model", olmoe.toString(), "--dot", "fast"), "info", "--dot must be exact or reduced, got 'fast'");
        oneLine(CliRun.of("logits", "--model", tiny.toString(), "--dot", "fp16", "--text", tiny.resolve("config.json").toString(),
                "--tokens", "4", "--out", tmp.resolve("l.f32").toString()), "logits", "--dot must be exact or reduced, got 'fp16'");
    }

    /** loadgen's --policies has no default (it is required with --model): help shows none, not "(default: [])". */
    @Test
    void loadgenHelpShowsNoEmptyPolicyDefault() {
        CliRun r = CliRun.of("loadgen", "--help");
        assertEquals(0, r.exitCode(), r.err());
        assertTrue(r.out().contains("--policies=SPEC"), r.out());
        assertTrue(!r.out().contains("(default: [])"), r.out());
    }

    private static String[] append(String[] args, String last) {
        String[] out = java.util.Arrays.copyOf(args, args.length + 1);
        out[args.length] = last;
        return out;
    }
}
