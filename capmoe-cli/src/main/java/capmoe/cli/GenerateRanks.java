package capmoe.cli;

import capmoe.weights.LoadOptions;
import capmoe.model.CausalLM;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Policy;
import capmoe.runtime.dist.CapacityScope;
import capmoe.runtime.dist.Communicator;
import capmoe.runtime.dist.DataParallelLM;
import capmoe.runtime.dist.Wire;
import capmoe.tokenizer.HfTokenizer;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * {@code mpirun -np D ./capmoe generate ...}: greedy generation with the KV cache through the
 * multi-process runtime ({@link DataParallelLM#greedy}): rank 0 holds the one sequence (its
 * attention and KV cache), every rank runs its own experts of every MoE layer, so each decode
 * step is one expert-parallel layer call per MoE layer over all ranks. Rank 0 prints the
 * continuation, cut at the first end-of-sequence token unless {@code --ignore-eos} (every rank
 * runs all {@code --max-tokens} steps: ranks must make the same calls). Sampling
 * ({@code --temperature > 0}) is refused: the ranks would have to share its random stream.
 */
final class GenerateRanks {
    private GenerateRanks() { }

    static int run(Path model, LoadOptions weights, int[] promptIds, HfTokenizer tokenizer, Policy policy, CapacityScope scope,
                   Wire wire, int maxTokens, double temperature, boolean ignoreEos, Communicator comm) {
        if (temperature != 0) {
            throw new IllegalArgumentException("--temperature " + temperature + ": under mpirun generation is greedy (--temperature 0)");
        }
        if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be >= 1 (got " + maxTokens + ")");
        try (CausalLM m = Models.load(model, null, weights)) {
            DataParallelLM dp = new DataParallelLM(m, comm, scope, wire, null);
            long start = System.nanoTime();
            int[] out = dp.greedy(new int[][] {promptIds}, maxTokens, RunOptions.of(policy))[0];
            double seconds = (System.nanoTime() - start) / 1e9;
            List<Integer> eos = m.config().eosTokenIds();
            int n = out.length;
            if (!ignoreEos) {
                for (int i = 0; i < out.length; i++) {
                    if (eos.contains(out[i])) {
                        n = i + 1;
                        break;
                    }
                }
            }
            int[] kept = Arrays.copyOf(out, n);
            if (comm.rank() == 0) {
                if (tokenizer != null) {
                    System.out.println(tokenizer.decode(kept));
                    System.err.println("prompt: " + promptIds.length + " tokens; generated ids " + Arrays.toString(kept));
                } else {
                    System.out.println(String.join(",", Arrays.stream(kept).mapToObj(Integer::toString).toList()));
                }
                System.err.printf(Locale.ROOT, "policy %s (capacity scope %s), %d MPI ranks: prompt %d tokens, %d new tokens in %.3f s "
                                + "(prefill + greedy decode, %.1f tok/s); rank %d's resident weights %.1f MiB%n",
                        policy.label(), scope.label(), comm.size(), promptIds.length, out.length, seconds, out.length / seconds,
                        comm.rank(), dp.residentWeightBytes() / 1048576.0);
            }
        }
        return 0;
    }
}
