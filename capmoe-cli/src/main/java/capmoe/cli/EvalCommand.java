package capmoe.cli;

import capmoe.eval.EpRuntime;
import capmoe.eval.EvalResults;
import capmoe.eval.Evaluator;
import capmoe.eval.ModelLoader;
import capmoe.eval.MarkdownReport;
import capmoe.eval.ReferencePolicies;
import capmoe.eval.ReportFiles;
import capmoe.eval.Task;
import capmoe.eval.Tasks;
import capmoe.model.CausalLM;
import capmoe.model.ModelConfig;
import capmoe.model.RunOptions;
import capmoe.routing.Placement;
import capmoe.runtime.ep.CommModel;
import capmoe.runtime.ep.Devices;
import capmoe.runtime.ep.EngineCores;
import capmoe.runtime.ep.EpMode;
import capmoe.routing.Policy;
import capmoe.tokenizer.HfTokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * {@code capmoe eval}: quality of every capacity policy on lm-eval-style tasks. Writes
 * results.json (all policies), results_<policy>.json (lm-eval layout), results.md and a
 * self-contained report.html into --out.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate capacity policies on lm-eval-style tasks (multiple choice, perplexity, LAMBADA).")
public final class EvalCommand implements Callable<Integer> {

    @Mixin
    QuantizeOption quantize = new QuantizeOption();

    static final String DEFAULT_POLICIES = "none,score@1.0,order@1.0,reverse@1.0,random@1.0,expanded@1.5,expert_drop@0.1";

    @Option(names = "--model", required = true, description = "Hugging Face checkpoint directory (with tokenizer.json)")
    Path model;

    @Option(names = "--tasks", required = true, split = ",",
            description = "Comma-separated: piqa, hellaswag, openbookqa, arc_easy, arc_challenge, mmlu, mmlu_<subject>, "
                    + "winogrande, boolq, lambada_openai, wikitext, wikitext-windows, text:PATH (perplexity over non-overlapping "
                    + "--seq-token windows of any UTF-8 file, --batch windows per forward pass, as wikitext-windows; PATH "
                    + "relative to the working directory)")
    List<String> tasks;

    @Option(names = "--data-dir", defaultValue = "data",
            description = "Task files: <task>/<split>.jsonl (piqa/validation.jsonl, ...), wikitext-2/test.txt (default: ${DEFAULT-VALUE})")
    Path dataDir;

    @Option(names = "--policies", split = ",", defaultValue = DEFAULT_POLICIES,
            description = "Capacity policies to compare (default: ${DEFAULT-VALUE})")
    List<String> policies;

    @Option(names = "--limit", defaultValue = "0", description = "First N documents per task; for wikitext-windows and text:PATH, first N windows (0 = all)")
    int limit;

    @Option(names = "--fewshot", defaultValue = "0", description = "Few-shot examples for multiple-choice tasks (default: ${DEFAULT-VALUE})")
    int fewshot;

    @Option(names = {"--fewshot-seed", "--seed"}, defaultValue = "1234",
            description = "Few-shot sampling seed, lm-eval's fewshot_random_seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--batch", defaultValue = "8", description = "Sequences per forward pass (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--seq", defaultValue = "256", description = "Window length of wikitext-windows and text:PATH (default: ${DEFAULT-VALUE})")
    int seq;

    @Option(names = "--max-length", defaultValue = "0",
            description = "Context for loglikelihood requests and rolling windows (default: max_position_embeddings)")
    int maxLength;

    @Option(names = "--prefix-token", defaultValue = "-1",
            description = "Token that starts rolling windows and empty contexts (default: bos_token_id, else eos_token_id)")
    int prefixToken;

    @Option(names = "--devices", defaultValue = "8",
            description = "Devices for the EP load accounting, experts placed contiguously (default: ${DEFAULT-VALUE})")
    int devices;

    @Option(names = "--out", defaultValue = "eval-out", description = "Output directory (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--dtype", description = "Run as if loaded with this torch_dtype (float32|bfloat16; default: config.json's). "
            + "The olmoe-tiny reference was computed in float32 (fp32 RoPE frequencies).")
    String dtype;

    @Option(names = "--ep", description = "Run the experts through the expert-parallel runtime over --devices and report "
            + "each policy's measured EP speedup on this workload (slower; scores are identical)")
    boolean ep;

    @Option(names = "--ep-mode", defaultValue = "timed-serial",
            description = "parallel | timed-serial (devices timed one after another; for machines with fewer cores than devices; default: ${DEFAULT-VALUE})")
    String epMode;

    @Option(names = "--link-gbps", defaultValue = "0",
            description = "Per-device link bandwidth for the modelled all-to-all (0 = no communication term; default: ${DEFAULT-VALUE})")
    double linkGbps;

    @Option(names = "--no-shared-context", description = "Score every choice as a full sequence (context ++ continuation), "
            + "as lm-eval's HF backend does, instead of prefilling a shared context once and scoring its choices from "
            + "the KV cache. Same scores under none; capacity policies route different batches, so their scores differ")
    boolean noSharedContext;

    @Option(names = "--quiet", description = "No progress bar")
    boolean quiet;

    @Override
    public Integer call() throws IOException {
        List<Policy> parsed = new ArrayList<>();
        for (String p : policies) parsed.add(Policy.parse(p));
        Tasks.Options options = new Tasks.Options(limit, fewshot, seed, seq, batch);
        List<Task> loaded = Tasks.load(tasks, dataDir, options);

        ModelConfig config = ModelConfig.read(model);
        int context = maxLength > 0 ? maxLength : config.maxPositionEmbeddings();
        int prefix = prefixToken >= 0 ? prefixToken : defaultPrefix(config);
        if (prefix >= config.vocabSize()) {
            throw new IllegalArgumentException("--prefix-token " + prefix + " is outside the vocabulary (" + config.vocabSize() + ")");
        }
        int d = Math.min(devices, config.numExperts());
        Placement placement = Placement.contiguous(config.numExperts(), d);
        Evaluator.Config evalConfig = new Evaluator.Config(context, batch, prefix, d, !noSharedContext);
        EpRuntime epRuntime = null;
        if (ep) {
            EpMode mode = EpMode.parse(epMode);
            epRuntime = new EpRuntime(Devices.contiguous(config.numExperts(), d), mode, new CommModel(linkGbps, 2),
                    EngineCores.defaultThreads(mode, d));
        }

        EvalResults results;
        try (HfTokenizer tokenizer = HfTokenizer.load(model); CausalLM lm = ModelLoader.load(model, dtype, quantize.format())) {
            Evaluator evaluator = new Evaluator(lm, tokenizer, evalConfig,
                    (policy, listener) -> RunOptions.of(policy).withPlacement(placement).withListener(listener),
                    quiet ? null : System.err, epRuntime);
            results = evaluator.run(loaded, parsed);
        }

        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("model", model.toString());
        meta.put("tasks", tasks);
        meta.put("data_dir", dataDir.toString());
        meta.put("limit", limit);
        meta.put("num_fewshot", fewshot);
        meta.put("fewshot_seed", seed);
        meta.put("seq", seq);
        meta.put("devices", d);
        meta.put("dtype", dtype == null ? config.dtype() : dtype);
        if (ep) {
            meta.put("ep_mode", epMode);
            meta.put("link_gbps", linkGbps);
        }
        ReportFiles.write(results, meta, out, "capmoe eval: " + model.getFileName());
        System.out.print(MarkdownReport.render(results));
        System.out.print(ReferencePolicies.compare(model, config.numExperts(), loaded, results));
        System.out.println("wrote " + out.resolve("results.json") + ", results_<policy>.json, results.md, report.html");
        return 0;
    }

    /** lm-eval's prefix token: BOS when the model has one, else EOS. */
    static int defaultPrefix(ModelConfig c) {
        if (c.bosTokenId() >= 0 && c.bosTokenId() < c.vocabSize()) return c.bosTokenId();
        for (int eos : c.eosTokenIds()) if (eos >= 0 && eos < c.vocabSize()) return eos;
        throw new IllegalArgumentException("config.json has no bos_token_id or eos_token_id inside the vocabulary; "
                + "pass --prefix-token");
    }
}
