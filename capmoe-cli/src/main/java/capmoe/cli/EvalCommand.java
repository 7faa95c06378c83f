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
 * the capacity scope; {@code --ep} then replays the recorded MoE layer calls over the ranks
 * ({@link capmoe.eval.EpRuntime.OverRanks}).
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluates capacity policies on lm-eval-style tasks (multiple choice, perplexity, LAMBADA).")
public final class EvalCommand implements Callable<Integer> {

    @Spec CommandSpec spec;

    @Mixin ModelOption model;

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
            description = "folder of the task files, <task>/<split>.jsonl as in piqa/validation.jsonl, and wikitext-2/test.txt (default: ${DEFAULT-VALUE})")
    Path dataDir;

    @Option(names = "--limit", defaultValue = "0", description = "first N documents per task; for wikitext-windows and text:PATH, first N windows (0 = all)")
    int limit;

    @Option(names = "--fewshot", defaultValue = "0", description = "few-shot examples for multiple-choice tasks (default: ${DEFAULT-VALUE})")
    int fewshot;

    @Option(names = {"--fewshot-seed", "--seed"}, defaultValue = "1234",
            description = "few-shot sampling seed, lm-eval's fewshot_random_seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Mixin WindowOptions windows = new WindowOptions(0);

    @Option(names = "--max-length", defaultValue = "0",
            description = "context for loglikelihood requests and rolling windows (default: max_position_embeddings)")
    int maxLength;

    @Option(names = "--prefix-token", defaultValue = "-1",
            description = "token that starts rolling windows and empty contexts (default: bos_token_id, else eos_token_id)")
    int prefixToken;

    @Mixin ReportOptions report = new ReportOptions("eval");

    @Option(names = "--dtype", description = "run as if loaded with this torch_dtype (float32|bfloat16; default: config.json's); "
            + "the olmoe-tiny reference was computed in float32 (fp32 RoPE frequencies)")
    String dtype;

    @Option(names = "--ep", description = "time every MoE layer call through the expert-parallel runtime over --devices "
            + "(under mpirun: over the ranks, all-to-alls and waits measured), replayed interleaved over the policies (as "
            + "ep-bench and demo do), and report each policy's measured EP speedup (keeps every call's input in memory; "
            + "scores are identical)")
    boolean ep;

    /** With --ep. */
    @Mixin EpTimingOptions timing = new EpTimingOptions(3, 0);

    @Option(names = "--no-shared-context", description = "score every choice as a full sequence (context ++ continuation), "
            + "as lm-eval's HF backend does, instead of prefilling a shared context once and scoring its choices from "
            + "the KV cache; same scores under none, capacity policies route different batches, so their scores differ")
    boolean noSharedContext;

    @Mixin RanksOption ranks = new RanksOption();

    @Override
    public Integer call() throws IOException {
        RanksOption.requireMpirun(spec, MpiJob.current().isPresent());
        Path modelDir = model.require();
        int seq = windows.check(0).seq, batch = windows.batch;
        Path out = report.out;
        List<Task> loaded = Tasks.load(tasks, dataDir, new Tasks.Options(limit, fewshot, seed, seq, batch, windows.windows));
        ModelConfig config = ModelConfig.read(modelDir);
        CapacityScope scope = ranks.scope();
        Communicator comm = MpiJob.current().orElse(null);
        if (comm != null && spec.commandLine().getParseResult().hasMatchedOption("--devices")) {
            throw new IllegalArgumentException("--devices is for one process; under mpirun the ranks are the devices (D = mpirun's -np)");
        }
        for (String inJvm : List.of("--ep-mode", "--link-gbps")) {
            if (comm != null && spec.commandLine().getParseResult().hasMatchedOption(inJvm)) {
                throw new IllegalArgumentException(inJvm + " is for in-JVM devices; under mpirun --ep replays the MoE layer calls "
                        + "over the ranks, every all-to-all and wait measured");
            }
        }
        int d = comm == null ? devices.check(config.numExperts()) : comm.size();
        if (!ep && spec.commandLine().getParseResult().hasMatchedOption("--decode-steps")) {
            throw new IllegalArgumentException("--decode-steps times decode steps through the expert-parallel runtime: add --ep");
        }
        Evaluation.Ep epTiming = !ep ? null
                : (comm == null ? new Evaluation.Ep(timing.mode(), timing.linkGbps, timing.repeats(), 1) : Evaluation.Ep.overRanks(timing.repeats(), 1))
                        .withDecodeSteps(phases.decodeSteps);
        Evaluation.Config c = new Evaluation.Config(modelDir, dtype, model.weights(), loaded, policies.policies(), d,
                batch, maxLength, prefixToken, !noSharedContext, epTiming, phases.replicateTrace);
        boolean rank0 = comm == null || comm.rank() == 0;
        Evaluation.Result result = Evaluation.run(c, !rank0 ? null : report.progress(),
                comm == null ? null : new Evaluation.Ranks(comm, scope, ranks.wire()));
        if (!rank0) return 0; // rank 0 writes and prints

        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("tasks", tasks);
        meta.put("data_dir", dataDir.toString());
        meta.put("limit", limit);
        if (windows.windows > 0) meta.put("windows", windows.windows);
        meta.put("num_fewshot", fewshot);
        meta.put("fewshot_seed", seed);
        meta.put("seq", seq);
        if (comm != null) {
            meta.put("ranks", comm.size());
            meta.put("capacity_scope", scope.label());
            meta.put("wire", ranks.wire().label());
        }
        result.write(out, "capmoe eval: " + modelDir.getFileName(), meta);
        PrintWriter w = spec.commandLine().getOut();
        if (comm != null) {
            w.printf("%d MPI ranks, capacity scope %s, %s rows on the wire%s%n", comm.size(), scope.label(), ranks.wire().label(),
                    scope == CapacityScope.LOCAL
                    ? " (the load columns count rank 0's tokens; perplexity and accuracy cover every token)" : "");
        }
        w.print(MarkdownReport.render(result.results()));
        // with --ep, each windowed perplexity task also as the demo's table (prefill and decode, extra memory)
        for (Task t : loaded) {
            if (ep && t instanceof Task.TokenWindows) {
                w.printf("%n%s, %s:%n%s", t.name(), comm == null ? d + " devices (EP runtime, " + timing.mode().id() + ")"
                        : comm.size() + " MPI ranks", PolicyTable.render(result.results(), t.name()));
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
