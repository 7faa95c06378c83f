package capmoe.cli;

import capmoe.kernels.MachinePeak;
import capmoe.model.CausalLM;
import capmoe.model.Decoder;
import capmoe.model.Models;
import capmoe.model.SyntheticCheckpoint;
import capmoe.model.SyntheticCheckpoint.OlmoeShape;
import capmoe.speed.BenchReport;
import capmoe.speed.EngineBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * {@code capmoe bench}: prefill and decode speed at one or more thread counts, in alternating
 * rounds, next to this machine's measured peaks ({@link EngineBench} computes, {@link BenchReport}
 * prints and writes JSON). The model is a checkpoint directory ({@code --model}) or an
 * OLMoE-1B-7B-shaped one with random bf16 weights written to a real safetensors file.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmark prefill and decode (tokens/s, fraction of the machine's measured peak, thread scaling).")
public final class BenchCommand implements Callable<Integer> {

    /** Without it: an OLMoE-1B-7B-shaped random model. */
    @Mixin ModelOption model;

    @Option(names = "--layers", defaultValue = "16", description = "decoder layers of the OLMoE-1B-7B-shaped model (it has 16; fewer = smaller file; default: ${DEFAULT-VALUE})")
    int layers;

    @Option(names = "--shape", defaultValue = "olmoe-1b-7b", description = "shape of the random-weight model (names as ep-bench's): olmoe-1b-7b (--layers layers) or olmoe-tiny (../shared's olmoe-tiny: 6 layers, 32 experts top-4, hidden 192; --layers ignored) (default: ${DEFAULT-VALUE})")
    String shapeName;

    @Option(names = "--dir", description = "where to write (or find) the OLMoE-1B-7B-shaped model (default: a temp dir, deleted afterwards)")
    Path dir;

    @Option(names = "--threads", split = ",", description = "thread counts, comma-separated, run in alternation (default: all cores)") int[] threads;

    @Option(names = "--prefill-tokens", split = ",", defaultValue = "512", description = "prefill lengths, one sequence each (default: ${DEFAULT-VALUE})")
    int[] prefillTokens;

    @Option(names = "--decode-tokens", defaultValue = "32", description = "tokens decoded one at a time, batch 1 (default: ${DEFAULT-VALUE})")
    int decodeTokens;

    @Option(names = {"--rounds", "--reps"}, defaultValue = "3", description = "alternating rounds; the best is reported with the range (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--peak-runs", defaultValue = "5", description = "runs of each peak measurement, best kept (default: ${DEFAULT-VALUE})")
    int peakRuns;

    @Option(names = "--json", description = "also write the result as JSON to this file") Path json;

    @Option(names = "--write-only", description = "write the OLMoE-1B-7B-shaped model to --dir and stop (scripts/bench-vs-llamacpp)")
    boolean writeOnly;

    @Override
    public Integer call() throws IOException {
        int[] t = threads != null ? threads : new int[] {Runtime.getRuntime().availableProcessors()};
        EngineBench.Plan plan = new EngineBench.Plan(t, prefillTokens, decodeTokens, rounds, peakRuns, 1L << 30);
        if (model.given()) return run(model.require(), model.require().toString(), plan);
        if (layers < 1) throw new IllegalArgumentException("--layers must be >= 1, got " + layers);
        OlmoeShape shape = switch (shapeName) {
            case "olmoe-1b-7b" -> OlmoeShape.olmoe1b7b(layers);
            case "olmoe-tiny" -> OlmoeShape.olmoeTiny();
            default -> throw new IllegalArgumentException("--shape '" + shapeName + "': expected olmoe-1b-7b or olmoe-tiny");
        };
        String described = shapeName.equals("olmoe-tiny") ? "olmoe-tiny-shaped model (6 layers, random bf16)"
                : String.format(Locale.ROOT, "OLMoE-1B-7B-shaped model (%d layers, random bf16)", layers);
        if (writeOnly) {
            if (dir == null) throw new IllegalArgumentException("--write-only needs --dir");
            if (!Files.exists(dir.resolve("model.safetensors"))) write(dir, shape, described, "");
            System.out.println("model: " + dir);
            return 0;
        }
        boolean temp = dir == null;
        Path where = temp ? Files.createTempDirectory("capmoe-bench") : dir;
        // an interrupted run (Ctrl-C, kill) skips finally blocks but runs shutdown hooks: the model (2-10 GB) goes either way
        Thread cleanup = new Thread(() -> {
            try {
                deleteTree(where);
            } catch (IOException ignored) {
                // nothing more to do while the JVM exits
            }
        }, "capmoe-bench-cleanup");
        if (temp) Runtime.getRuntime().addShutdownHook(cleanup);
        try {
            long t0 = System.nanoTime();
            if (!Files.exists(where.resolve("model.safetensors"))) {
                write(where, shape, described, temp ? " (deleted afterwards, also when interrupted)" : "");
            }
            String name = String.format(Locale.ROOT, "%s in %s (%.1f GB, ready in %.1f s)",
                    described, where, Files.size(where.resolve("model.safetensors")) / 1e9, (System.nanoTime() - t0) / 1e9);
            return run(where, name, plan);
        } finally {
            if (temp) {
                deleteTree(where);
                Runtime.getRuntime().removeShutdownHook(cleanup);
            }
        }
    }

    private int run(Path where, String described, EngineBench.Plan plan) {
        // the numerics are part of what was measured: "--dot reduced" (llama.cpp's arithmetic) is said in the name
        String name = model.dot() == capmoe.kernels.DotMode.EXACT ? described : described + ", --dot " + model.dot();
        System.out.println("model: " + name);
        try (CausalLM m = Models.load(where, null, model.weights())) {
            double bytesPerWeight = m instanceof Decoder d ? EngineBench.bytesPerWeight(d.checkpoint()) : 2;
            MachinePeak.Arithmetic arithmetic = m instanceof Decoder d ? EngineBench.arithmetic(d.checkpoint())
                    : MachinePeak.Arithmetic.FP32_FMA;
            EngineBench.Result result = EngineBench.run(m, bytesPerWeight, arithmetic, plan, line -> System.err.println("  " + line));
            BenchReport report = new BenchReport(name, bytesPerWeight, result);
            System.out.print(report.text());
            if (json != null) report.writeJson(json);
        }
        return 0;
    }

    /**
     * Writes the random-weight model, with a progress line on stderr at most once a second
     * (bytes written, rate, time left) and one when done: a 16-layer model is 13 GB.
     */
    private static void write(Path where, OlmoeShape shape, String described, String note) {
        System.err.printf(Locale.ROOT, "writing an %s to %s%s ...%n", described, where, note);
        long t0 = System.nanoTime();
        long[] last = {t0};
        SyntheticCheckpoint.writeOlmoe(where, shape, 1234, (written, total) -> {
            long now = System.nanoTime();
            if (now - last[0] < 1_000_000_000L && written < total) return;
            last[0] = now;
            double s = (now - t0) / 1e9, rate = written / Math.max(s, 1e-9);
            System.err.printf(Locale.ROOT, "  %,d of %,d MB (%.0f%%), %.0f MB/s, %s%n", written >> 20, total >> 20, 100.0 * written / total,
                    rate / (1 << 20), written < total ? String.format(Locale.ROOT, "about %.0f s left", (total - written) / rate) : String.format(Locale.ROOT, "done in %.1f s", s));
        });
    }

    private static void deleteTree(Path p) throws IOException {
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(x);
        }
    }
}
