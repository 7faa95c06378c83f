package capmoe.cli;

import capmoe.runtime.ep.EpBench;
import capmoe.runtime.ep.EpBenchJson;
import capmoe.runtime.ep.EpReport;
import capmoe.runtime.ep.SkewedOlmoe;
import capmoe.runtime.mpi.MpiJob;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code ./capmoe ep-bench}: the straggler effect under expert parallelism, and what each policy saves. */
@Command(name = "ep-bench", mixinStandardHelpOptions = true,
        description = {
                "Runs a model's MoE layers expert-parallel over D devices (each owning E/D experts, its own worker "
                        + "and share of the cores) for each capacity policy on the same batches, and prints one table: dropped "
                        + "pairs, device max/mean load, EP time per MoE layer (critical path + modelled all-to-all), speedup vs "
                        + "none, and the load bound (sum of max device loads, none / policy).",
                "",
                "Modes: parallel = devices run concurrently with a barrier per layer, wall time measured (needs cores "
                        + ">= D); timed-serial = devices run one after another, each timed alone with the same cores, the "
                        + "layer's time is the slowest device (for small machines). Every output names the mode.",
                "",
                "Timing: every policy first runs the batches once through the model (loads, dropped pairs, outputs), "
                        + "recording each MoE layer call; then every call is replayed --repeats times under all policies back "
                        + "to back, the order rotated each time, so drift on a busy machine hits every policy alike. Each "
                        + "repeat gives a speedup (none's time / the policy's in that repeat): speedup = their median, range = "
                        + "lowest..highest; EP layer = the median repeat's time per call. Per-call detail (HTML, JSON, idle%%) "
                        + "= median repeat.",
                "",
                "expanded@G adds the fixed local experts 0-7 to every token (the official code; they all sit on "
                        + "device 0), expanded_origin@G the m best-scored experts of the token's origin device (the EP form).",
                "",
                "Tokens: --text FILE, tokenized with the model's tokenizer (e.g. WikiText-2's test.txt in ../shared/data), "
                        + "or --random-tokens. --make-model DIR first writes a random model of --shape's MoE shape (OLMoE "
                        + "architecture) with a skewed router (SkewedOlmoe) and benchmarks it.",
                "",
                "Prefill and decode apart: each batch is prefilled through a KV cache, then --decode-steps greedy "
                        + "steps (one token per sequence per MoE call) are recorded and replayed apart. replicate@N[+POLICY] "
                        + "places N redundant replicas per layer with DeepSeek's EPLB; the 'uniform (ideal)' row times none's "
                        + "calls with the pairs spread perfectly over the experts, the best case of any balancing.",
                ""})
public final class EpBenchCommand implements Callable<Integer> {

    @Spec CommandSpec spec;

    @Mixin ModelOption model;

    @Mixin RanksOption ranks = new RanksOption();

    @Mixin DeviceOption devices;

    @Mixin PolicyOption policies = new PolicyOption(PolicyOption.EP_BENCH);

    @Option(names = "--make-model", paramLabel = "DIR",
            description = "write a model of --shape's MoE shape (OLMoE architecture, random bf16, skewed router) to DIR and benchmark it")
    Path makeModel;

    @Option(names = "--shape", description = "--make-model: olmoe-1b-7b, mixtral-8x7b (8 experts top-2, width 14336) or "
            + "qwen1.5-moe-a2.7b (60 routed experts top-4, width 1408; no shared expert) (default: ${DEFAULT-VALUE})") String shape = "olmoe-1b-7b";

    @Option(names = "--hidden", description = "--make-model: hidden size instead of the shape's (to fit a machine; the head size stays)") int hidden;

    @Option(names = "--expert-width", description = "--make-model: expert intermediate size instead of the shape's") int expertWidth;

    @Option(names = "--layers", description = "--make-model: decoder layers (OLMoE-1B-7B has 16; default: ${DEFAULT-VALUE})") int layers = 2;

    @Option(names = "--vocab", description = "--make-model: vocabulary (OLMoE has 50304; not part of the MoE layer; default: ${DEFAULT-VALUE})")
    int vocab = 4096;

    @Option(names = "--skew", description = "--make-model: router skew, row e scaled by exp(skew*z_e) (default: ${DEFAULT-VALUE})") double skew = 0.5;

    @Mixin EpTimingOptions timing = new EpTimingOptions(5, 400);

    @Option(names = "--tokens", description = "tokens per batch (one MoE layer call; default: ${DEFAULT-VALUE})") int tokens = 512;

    /** The old spelling of --tokens, refused with one line: --batch counts sequences in eval and demo. */
    @Option(names = "--batch", hidden = true) Integer oldBatch;
    @Option(names = "--seq-len", description = "tokens per sequence within a batch (default: ${DEFAULT-VALUE})") int seqLen = 128;
    @Option(names = "--batches", description = "measured batches (default: ${DEFAULT-VALUE})") int batches = 4;
    @Option(names = "--warmup", description = "warm-up batches, not measured (default: ${DEFAULT-VALUE})") int warmup = 1;
    @Option(names = "--replay-warmup", description = "unmeasured replays of every call before them (default: ${DEFAULT-VALUE})") int replayWarmup = 1;
    @Option(names = "--text", paramLabel = "FILE", description = "text to tokenize with the model's tokenizer.json") Path text;
    @Option(names = "--random-tokens", description = "uniform random token ids instead of text") boolean randomTokens;
    @Option(names = "--placement", paramLabel = "FILE", description = "device id per expert (default: contiguous blocks)") Path placementFile;

    @Option(names = "--threads-per-device", description = "cores per device (default: parallel cores/D, timed-serial all cores)")
    Integer threadsPerDevice;

    @Option(names = "--seed", description = "seed for --random-tokens and --make-model (default: ${DEFAULT-VALUE})") long seed = 0;

    @Option(names = "--json", paramLabel = "FILE", description = "JSON (default: ${DEFAULT-VALUE})")
    Path json = Path.of("reports", "ep-bench", "ep-bench.json");

    @Option(names = "--html", paramLabel = "FILE", description = "HTML (default: ${DEFAULT-VALUE})")
    Path html = Path.of("reports", "ep-bench", "ep-bench.html");

    @Mixin PhaseOption phases = new PhaseOption();

    @Option(names = "--trace", paramLabel = "FILE", description = "record the none run's routing (for ./capmoe simulate)") Path trace;

    /** The shape --make-model writes: --shape's preset with --layers, --vocab, --hidden and --expert-width. */
    SkewedOlmoe.Shape madeShape() {
        return SkewedOlmoe.Shape.named(shape).with(layers, vocab, hidden, expertWidth);
    }

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (oldBatch != null) {
            throw new IllegalArgumentException("--batch is now --tokens " + oldBatch + " (tokens per MoE layer call; --batch counts sequences in eval and demo)");
        }
        if (model.given() == (makeModel != null)) throw new IllegalArgumentException("give exactly one of --model DIR or --make-model DIR");
        if (text != null && randomTokens) throw new IllegalArgumentException("give --text FILE or --random-tokens, not both");
        RanksOption.requireMpirun(spec, MpiJob.current().isPresent());
        if (MpiJob.current().isPresent()) {
            return EpBenchRanks.run(this, MpiJob.current().get(), out, err); // under mpirun
        }
        Path dir = makeModel;
        if (makeModel != null) {
            SkewedOlmoe.Shape made = madeShape();
            err.printf(Locale.ROOT, "writing a %s-shaped model to %s: %s, router skew %s ...%n", shape, makeModel, made, skew);
            err.flush();
            SkewedOlmoe.write(makeModel, made, skew, seed);
            if (text == null) randomTokens = true;
        } else {
            dir = model.require();
        }
        if (text == null && !randomTokens) {
            throw new IllegalArgumentException("give --text FILE (e.g. ../shared/data/wikitext-2/test.txt) or --random-tokens");
        }
        EpBench.Config config = new EpBench.Config(dir, model.weights(), policies.policies(), devices.devices, timing.mode(), placementFile,
                threadsPerDevice, timing.linkGbps, tokens, seqLen, batches, warmup, timing.repeats(), replayWarmup, randomTokens ? null : text, seed, trace,
                phases.decodeSteps, phases.replicateTrace);
        EpBench.Result r = EpBench.run(config, err);
        out.println("Expert-parallel benchmark: " + dir + " (" + r.model().modelType() + ", " + r.model().numExperts() + " experts, top-"
                + r.model().topK() + ", " + r.model().numHiddenLayers() + " layers, hidden " + r.model().hiddenSize() + ")");
        out.println(r.label());
        out.println("data: " + r.data());
        out.println();
        out.print(r.table());
        EpReport.write(html, "Expert-parallel straggler report (" + config.mode().id() + ")", r);
        EpBenchJson.write(r, json);
        out.println("wrote " + json + " and " + html + (trace != null ? " and trace " + trace : ""));
        out.flush();
        return 0;
    }
}
