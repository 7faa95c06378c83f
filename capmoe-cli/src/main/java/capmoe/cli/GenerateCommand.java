package capmoe.cli;

import capmoe.model.CausalLM;
import capmoe.model.Generator;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Policy;
import capmoe.runtime.mpi.MpiJob;
import capmoe.tokenizer.HfTokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code capmoe generate --model DIR --prompt "..." | --prompt-ids 1,2,3 [--strategy score --gamma 1.5]
 * [--max-tokens N --temperature T --top-p P --seed S]}: KV-cached generation with a capacity policy,
 * reporting prefill and decode tokens/s.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate tokens with the KV cache under a capacity policy; reports tokens/s.")
public final class GenerateCommand implements Callable<Integer> {

    @Spec CommandSpec spec;

    @Mixin ModelOption model;

    @Option(names = "--prompt", description = "prompt text, encoded with the model's tokenizer") String prompt;
    @Option(names = "--prompt-ids", split = ",", description = "prompt token ids, comma separated (instead of --prompt)") int[] promptIds;

    @Option(names = {"--strategy", "--policy"}, paramLabel = "SPEC", defaultValue = "none",
            description = "capacity policy spec as everywhere else: none, score@G, order@G, reverse@G, random@G[:seed=N], "
                    + "expanded@G[:local=0-7], expanded_origin@G[:m=N], device@G, expert_drop@R; a bare name takes --gamma "
                    + "(default: ${DEFAULT-VALUE})")
    String strategy;

    @Option(names = "--gamma", description = "with a bare --strategy name: its capacity factor (rho for expert_drop; default 1.0)") Double gamma;

    @Mixin SamplingOptions sampling = new SamplingOptions(32);

    @Option(names = "--top-p", defaultValue = "1.0", description = "nucleus sampling mass (default: ${DEFAULT-VALUE})") double topP;
    @Option(names = "--seed", defaultValue = "0", description = "sampling seed (default: ${DEFAULT-VALUE})") long seed;
    @Option(names = "--ignore-eos", description = "do not stop at the config's eos_token_id") boolean ignoreEos;

    @Mixin
    RanksOption ranks = new RanksOption();

    /** A full spec as given; a bare name (score) becomes score@G with --gamma G (default 1.0), as in route. */
    static Policy policy(String strategy, Double gamma) {
        String s = strategy.strip();
        if (s.contains("@") || s.equals("none")) {
            if (gamma != null) throw new IllegalArgumentException("--gamma goes with a bare --strategy name; '" + s + "' is a full spec");
            return Policy.parse(s);
        }
        return Policy.parse(s + "@" + (gamma == null ? 1.0 : gamma));
    }

    @Override
    public Integer call() {
        Policy policy = policy(strategy, gamma);
        if ((prompt == null) == (promptIds == null)) throw new IllegalArgumentException("give either --prompt TEXT or --prompt-ids IDS");
        Path model = this.model.require();
        int maxTokens = sampling.maxTokens();
        double temperature = sampling.temperature;
        HfTokenizer tokenizer = prompt == null ? null : HfTokenizer.load(model);
        if (tokenizer != null) {
            promptIds = tokenizer.encode(prompt);
            if (promptIds.length == 0) throw new IllegalArgumentException("the prompt encodes to no tokens");
        }
        int context = capmoe.model.ModelConfig.read(model).maxPositionEmbeddings();
        if ((long) promptIds.length + maxTokens > context) {
            throw new IllegalArgumentException("the prompt (" + promptIds.length + " tokens) + --max-tokens " + maxTokens
                    + " exceeds the model's context of " + context + " tokens (max_position_embeddings); use --max-tokens "
                    + Math.max(1, context - promptIds.length) + " or less");
        }
        RanksOption.requireMpirun(spec, MpiJob.current().isPresent());
        if (MpiJob.current().isPresent()) { // under mpirun: the ranks' expert-parallel runtime
            try (tokenizer) {
                return GenerateRanks.run(model, this.model.weights(), promptIds, tokenizer, policy, ranks.scope(), ranks.wire(), maxTokens, temperature,
                        ignoreEos, MpiJob.current().get());
            }
        }
        try (CausalLM m = Models.load(model, null, this.model.weights()); tokenizer) {
            var s = new Generator.Settings(maxTokens, temperature, topP, seed,
                    ignoreEos ? List.of() : m.config().eosTokenIds());
            long start = System.nanoTime();
            long[] firstToken = {0};
            long[] lastProgress = {System.nanoTime()};
            List<Integer> out = new ArrayList<>();
            Generator.generate(m, promptIds, s, RunOptions.of(policy), tok -> {
                if (out.isEmpty()) firstToken[0] = System.nanoTime();
                out.add(tok);
                if (tokenizer != null) {
                    // decode the whole continuation each time: a byte-level token may complete a character only later
                    String text = tokenizer.decode(out.stream().mapToInt(Integer::intValue).toArray());
                    String before = out.size() == 1 ? "" : tokenizer.decode(out.subList(0, out.size() - 1).stream().mapToInt(Integer::intValue).toArray());
                    System.out.print(text.startsWith(before) ? text.substring(before.length()) : "");
                } else {
                    System.out.print((out.size() == 1 ? "" : ",") + tok);
                }
                System.out.flush();
                long now = System.nanoTime();
                if (now - lastProgress[0] > 5_000_000_000L) {   // long runs: tokens/s and ETA on stderr every 5 s
                    lastProgress[0] = now;
                    double rate = out.size() > 1 ? (out.size() - 1) / ((now - firstToken[0]) / 1e9) : 0;
                    System.err.printf(Locale.ROOT, "%n[%d/%d tokens, %.1f tok/s, ETA %.0f s]%n", out.size(), maxTokens, rate,
                            rate > 0 ? (maxTokens - out.size()) / rate : 0.0);
                }
            });
            long end = System.nanoTime();
            System.out.println();
            if (tokenizer != null) System.err.println("prompt: " + promptIds.length + " tokens; generated ids " + out);
            double prefill = (firstToken[0] - start) / 1e9, decode = (end - firstToken[0]) / 1e9;
            System.err.printf(Locale.ROOT, "policy %s: prompt %d tokens, prefill %.3f s (%.1f tok/s); %d new tokens, decode %.1f tok/s%n",
                    policy.label(), promptIds.length, prefill, promptIds.length / prefill, out.size(),
                    out.size() > 1 ? (out.size() - 1) / decode : 0.0);
        }
        return 0;
    }
}
