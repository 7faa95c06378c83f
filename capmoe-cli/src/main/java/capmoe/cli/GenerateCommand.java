package capmoe.cli;

import capmoe.model.CausalLM;
import capmoe.model.Generator;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Policy;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code capmoe generate --model DIR --prompt-ids 1,2,3 [--strategy score --gamma 1.5]
 * [--max-tokens N --temperature T --top-p P --seed S]}: KV-cached generation with a capacity policy,
 * reporting prefill and decode tokens/s.
 */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate tokens with the KV cache under a capacity policy; reports tokens/s.")
public final class GenerateCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Hugging Face checkpoint directory")
    Path model;

    @Option(names = "--prompt-ids", split = ",", required = true, description = "prompt token ids, comma separated")
    int[] promptIds;

    @Option(names = "--strategy", defaultValue = "none",
            description = "capacity policy: none, score, order, reverse, random, expanded, device, expert_drop (default: ${DEFAULT-VALUE})")
    String strategy;

    @Option(names = "--gamma", defaultValue = "1.0", description = "capacity factor (rho for expert_drop; default: ${DEFAULT-VALUE})")
    double gamma;

    @Option(names = "--max-tokens", defaultValue = "32", description = "new tokens to generate (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--temperature", defaultValue = "0", description = "0 = greedy (default: ${DEFAULT-VALUE})")
    double temperature;

    @Option(names = "--top-p", defaultValue = "1.0", description = "nucleus sampling mass (default: ${DEFAULT-VALUE})")
    double topP;

    @Option(names = "--seed", defaultValue = "0", description = "sampling seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--ignore-eos", description = "do not stop at the config's eos_token_id")
    boolean ignoreEos;

    static Policy policy(String strategy, double gamma) {
        return Policy.parse(strategy.equals("none") ? "none" : strategy + "@" + gamma);
    }

    @Override
    public Integer call() {
        Policy policy = policy(strategy, gamma);
        try (CausalLM m = Models.load(model)) {
            var s = new Generator.Settings(maxTokens, temperature, topP, seed,
                    ignoreEos ? List.of() : m.config().eosTokenIds());
            long start = System.nanoTime();
            long[] firstToken = {0};
            List<Integer> out = new ArrayList<>();
            Generator.generate(m, promptIds, s, RunOptions.of(policy), tok -> {
                if (out.isEmpty()) firstToken[0] = System.nanoTime();
                out.add(tok);
                System.out.print((out.size() == 1 ? "" : ",") + tok);
                System.out.flush();
            });
            long end = System.nanoTime();
            System.out.println();
            double prefill = (firstToken[0] - start) / 1e9, decode = (end - firstToken[0]) / 1e9;
            System.err.printf(Locale.ROOT, "policy %s: prompt %d tokens, prefill %.3f s (%.1f tok/s); %d new tokens, decode %.1f tok/s%n",
                    policy.label(), promptIds.length, prefill, promptIds.length / prefill, out.size(),
                    out.size() > 1 ? (out.size() - 1) / decode : 0.0);
        }
        return 0;
    }
}
