package capmoe.cli;

import capmoe.routing.Policy;
import capmoe.runtime.dist.Communicator;
import capmoe.runtime.dist.DistEpBench;
import capmoe.runtime.dist.DistEpBenchJson;
import capmoe.runtime.dist.DistHtmlReport;
import capmoe.runtime.ep.SkewedOlmoe;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * {@code mpirun -np D ./capmoe ep-bench ...}: the same options as in one process, run by
 * {@link DistEpBench} over the job's ranks (each rank one "device" owning E/D experts, real
 * processes, measured all-to-alls). {@code --devices}, {@code --mode}, {@code --repeats},
 * {@code --placement}, {@code --threads-per-device}, {@code --link-gbps} and {@code --trace} are
 * the in-JVM runtime's and are refused here. Rank 0 writes {@code --make-model} (the others
 * wait for it), prints the table and writes the JSON and HTML.
 */
final class EpBenchRanks {
    private EpBenchRanks() { }

    static int run(EpBenchCommand c, Communicator comm, PrintWriter out, PrintWriter err) throws IOException {
        List<Policy> policies = c.policies.policies(); // the baseline none first
        for (String inJvm : List.of("--devices", "--mode", "--repeats", "--replay-warmup", "--link-gbps")) {
            if (c.spec.commandLine().getParseResult().hasMatchedOption(inJvm)) {
                throw new IllegalArgumentException(inJvm + " is for in-JVM devices; under mpirun the ranks are the devices "
                        + "(D = mpirun's -np) and every time is measured");
            }
        }
        if (c.placementFile != null || c.threadsPerDevice != null || c.trace != null) {
            throw new IllegalArgumentException("--placement, --threads-per-device and --trace are for in-JVM devices; under mpirun "
                    + "each rank is a device (experts in contiguous blocks, one rank's cores each)");
        }
        if (c.makeModel != null) {
            if (comm.rank() == 0) {
                SkewedOlmoe.Shape shape = c.madeShape();
                err.printf(Locale.ROOT, "writing a %s-shaped model to %s: %s, router skew %s ...%n", c.shape, c.makeModel, shape, c.skew);
                err.flush();
                SkewedOlmoe.write(c.makeModel, shape, c.skew, c.seed);
            }
            comm.barrier(); // the other ranks read it once written (one machine, or a shared file system)
        }
        Path text = c.randomTokens || (c.text == null && c.makeModel != null) ? null : c.text;
        if (text == null && !c.randomTokens && c.makeModel == null) {
            throw new IllegalArgumentException("give --text FILE (e.g. ../shared/data/wikitext-2/test.txt) or --random-tokens");
        }
        DistEpBench.Config config = new DistEpBench.Config(c.makeModel != null ? c.makeModel : c.model.require(), policies, c.ranks.scope(), c.ranks.wire(),
                c.tokens, c.seqLen, c.batches, c.warmup, c.phases.decodeSteps, text, c.seed);
        DistEpBench.Result r = DistEpBench.run(config, comm, comm.rank() == 0 ? err : null);
        if (comm.rank() == 0) {
            DistEpBenchJson.writeAtomically(c.json, DistEpBenchJson.render(r));
            DistEpBenchJson.writeAtomically(c.html, DistHtmlReport.render(r));
            out.print(r.table());
            out.println("wrote " + c.json + " and " + c.html);
            out.flush();
        }
        return 0;
    }
}
