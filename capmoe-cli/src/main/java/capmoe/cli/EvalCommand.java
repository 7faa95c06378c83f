package capmoe.cli;

import capmoe.eval.Evaluation;
import capmoe.eval.MarkdownReport;
import capmoe.eval.PolicyTable;
import capmoe.eval.QualityTable;
import capmoe.eval.ReferencePolicies;
import capmoe.eval.Task;
import capmoe.eval.Tasks;
import capmoe.model.ModelConfig;
import capmoe.runtime.dist.CapacityScope;
import capmoe.runtime.dist.Communicator;
import capmoe.runtime.mpi.MpiJob;
import capmoe.runtime.ep.EpMode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code capmoe eval}: quality of every capacity policy on lm-eval-style tasks ({@link Evaluation}).
 * Writes results.json (all policies), results_&lt;policy&gt;.json (lm-eval layout), results.md and a
 * self-contained report.html into --out. Under {@code mpirun -np D} every rank runs it as one rank of
 * the multi-process runtime ({@link Evaluation.Ranks}); rank 0 prints and writes, naming the ranks and
 * the capacity scope.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluates capacity policies on lm-eval-style tasks (multiple choice, perplexity, LAMBADA).")
public final class EvalCommand implements Callable<Integer> {

    @Spec CommandSpec spec;

    @Mixin ModelOption model;

    @Mixin QuantizeOption quantize = new QuantizeOption();

    @Mixin DeviceOption devices;

    @Mixin PolicyOption policies = new PolicyOption(PolicyOption.EVAL);

    @Mixin PhaseOption phases = new PhaseOption();

    @Option(names = "--tasks", required = true, split = ",",
            description = "comma separated: piqa, hellaswag, openbookqa, arc_easy, arc_challenge, mmlu, mmlu_<subject>, "
                    + "winogrande, boolq, lambada_openai, wikitext, wikitext-windows, text:PATH (perplexity over non-overlapping "
                    + "--seq-token windows of any UTF-8 file, --batch windows per forward pass, as wikitext-windows; PATH "
                    + "relative to the working directory)")
    List<String> tasks;

    @Option(names = "--data-dir", paramLabel = "DIR", defaultValue = "data",
            description = "task files: <task>/<split>.jsonl (piqa/validation.jsonl, ...), wikitext-2/test.txt (default: ${DEFAULT-VALUE})")
    Path dataDir;

    @Option(names = "--limit", defaultValue = "0", description = "first N documents per task; for wikitext-windows and text:PATH, first N windows (0 = all)")
    int limit;

    @Option(names = "--windows", defaultValue = "0",
            description = "first N windows of wikitext-windows and text:PATH, overriding --limit for them (0 = --limit)")
    int windows;

    @Option(names = "--fewshot", defaultValue = "0", description = "few-shot examples for multiple-choice tasks (default: ${DEFAULT-VALUE})")
    int fewshot;

    @Option(names = {"--fewshot-seed", "--seed"}, defaultValue = "1234",
            description = "few-shot sampling seed, lm-eval's fewshot_random_seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--batch", defaultValue = "8", description = "sequences per forward pass (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--seq", defaultValue = "256", description = "window length of wikitext-windows and text:PATH (default: ${DEFAULT-VALUE})")
    int seq;

    @Option(names = "--max-length", defaultValue = "0",
            description = "context for loglikelihood requests and rolling windows (default: max_position_embeddings)")
    int maxLength;

    @Option(names = "--prefix-token", defaultValue = "-1",
            description = "token that starts rolling windows and empty contexts (default: bos_token_id, else eos_token_id)")
    int prefixToken;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "reports/eval", description = "output directory (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--dtype", description = "run as if loaded with this torch_dtype (float32|bfloat16; default: config.json's); "
            + "the olmoe-tiny reference was computed in float32 (fp32 RoPE frequencies)")
    String dtype;

    @Option(names = "--ep", description = "time every MoE layer call through the expert-parallel runtime over --devices, "
            + "replayed interleaved over the policies (as ep-bench and demo do), and report each policy's measured EP speedup "
            + "(keeps every call's input in memory; scores are identical)")
    boolean ep;

    @Option(names = "--ep-mode", defaultValue = "timed-serial",
            description = "parallel | timed-serial (devices timed one after another; for machines with fewer cores than devices; default: ${DEFAULT-VALUE})")
    String epMode;

    @Option(names = "--repeats", defaultValue = "3", description = "--ep: timed replays of every MoE layer call; speedup = median (default: ${DEFAULT-VALUE})")
    int repeats;

    @Option(names = "--link-gbps", defaultValue = "0",
            description = "per-device link bandwidth for the modelled all-to-all (0 = no communication term; default: ${DEFAULT-VALUE})")
    double linkGbps;

    @Option(names = "--no-shared-context", description = "score every choice as a full sequence (context ++ continuation), "
            + "as lm-eval's HF backend does, instead of prefilling a shared context once and scoring its choices from "
            + "the KV cache; same scores under none, capacity policies route different batches, so their scores differ")
    boolean noSharedContext;

    @Option(names = "--quiet", description = "no progress bar")
    boolean quiet;

    @Option(names = "--capacity-scope", paramLabel = "global|local", defaultValue = "global",
            description = "under mpirun: capacity over each forward pass's whole batch (global, the paper's semantics) or over "
                    + "each rank's own sequences (local, C = ceil(γ·k·T_rank/E)) (default: ${DEFAULT-VALUE})")
    String capacityScope;

    @Override
    public Integer call() throws IOException {
        Path modelDir = model.require();
        List<Task> loaded = Tasks.load(tasks, dataDir, new Tasks.Options(limit, fewshot, seed, seq, batch, windows));
        ModelConfig config = ModelConfig.read(modelDir);
        CapacityScope scope = CapacityScope.parse(capacityScope);
        Communicator comm = MpiJob.current().orElse(null);
        if (comm == null && spec.commandLine().getParseResult().hasMatchedOption("--capacity-scope")) {
            throw new IllegalArgumentException("--capacity-scope applies to a run under mpirun (mpirun -np D ./capmoe eval ...)");
        }
        if (comm != null && spec.commandLine().getParseResult().hasMatchedOption("--devices")) {
            throw new IllegalArgumentException("--devices is for one process; under mpirun the ranks are the devices (D = mpirun's -np)");
        }
        int d = comm == null ? devices.check(config.numExperts()) : comm.size();
        if (!ep && spec.commandLine().getParseResult().hasMatchedOption("--decode-steps")) {
            throw new IllegalArgumentException("--decode-steps times decode steps through the expert-parallel runtime: add --ep");
        }
        Evaluation.Config c = new Evaluation.Config(modelDir, dtype, quantize.format(), loaded, policies.policies(), d,
                batch, maxLength, prefixToken, !noSharedContext,
                ep ? new Evaluation.Ep(EpMode.parse(epMode), linkGbps, repeats, 1, phases.decodeSteps) : null, phases.replicateTrace);
        boolean rank0 = comm == null || comm.rank() == 0;
        Evaluation.Result result = Evaluation.run(c, quiet || !rank0 ? null : System.err,
                comm == null ? null : new Evaluation.Ranks(comm, scope));
        if (!rank0) return 0; // rank 0 writes and prints

        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("tasks", tasks);
        meta.put("data_dir", dataDir.toString());
        meta.put("limit", limit);
        if (windows > 0) meta.put("windows", windows);
        meta.put("num_fewshot", fewshot);
        meta.put("fewshot_seed", seed);
        meta.put("seq", seq);
        if (comm != null) {
            meta.put("ranks", comm.size());
            meta.put("capacity_scope", scope.label());
        }
        result.write(out, "capmoe eval: " + modelDir.getFileName(), meta);
        PrintWriter w = spec.commandLine().getOut();
        if (comm != null) {
            w.printf("%d MPI ranks, capacity scope %s%s%n", comm.size(), scope.label(), scope == CapacityScope.LOCAL
                    ? " (the load columns count rank 0's tokens; perplexity and accuracy cover every token)" : "");
        }
        w.print(MarkdownReport.render(result.results()));
        // with --ep, each windowed perplexity task also as the demo's table (prefill and decode, extra memory)
        for (Task t : loaded) {
            if (ep && t instanceof Task.TokenWindows) {
                w.printf("%n%s, %d devices (EP runtime, %s):%n%s", t.name(), d, EpMode.parse(epMode).id(),
                        PolicyTable.render(result.results(), t.name()));
            }
        }
        if (result.results().replicated()) {
            w.println("replicate@N: EPLB replicas per MoE layer placed from " + (phases.replicateTrace != null
                    ? "the trace " + phases.replicateTrace : "none's routing of this evaluation (in-sample)")
                    + "; a replicated expert's token t runs on replica t mod r; extra memory = replicas beyond ceil(E/D) on the "
                    + "fullest device, bf16 weights");
        }
        w.print(QualityTable.render(result.results(), loaded));
        // the PyTorch references route each batch as one: comparable under global scope only
        if (scope == CapacityScope.GLOBAL) w.print(ReferencePolicies.compare(modelDir, config.numExperts(), loaded, result.results()));
        w.println("wrote " + out.resolve("results.json") + ", results_<policy>.json, results.md, report.html");
        w.flush();
        return 0;
    }
}
