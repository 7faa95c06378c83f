package capmoe.runtime.dist;

import capmoe.routing.Policy;
import capmoe.runtime.mpi.MpiJob;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * One rank of {@link DistEpBenchTest}: {@link DistEpBench} over the job's ranks. Arguments: model
 * directory, policies (comma-separated, none first), batch tokens, sequence length, batches, decode
 * steps, output directory. Rank 0 prints the table and writes ep-bench.json / ep-bench.html there.
 */
public final class DistEpBenchRankMain {

    public static void main(String[] args) {
        System.exit(MpiJob.run(args, a -> {
            try {
                Communicator comm = MpiJob.current().orElseThrow();
                List<Policy> policies = Arrays.stream(a[1].split(",")).map(Policy::parse).toList();
                DistEpBench.Config c = new DistEpBench.Config(Path.of(a[0]), policies, CapacityScope.GLOBAL, Wire.FP32,
                        Integer.parseInt(a[2]), Integer.parseInt(a[3]), Integer.parseInt(a[4]), 1, Integer.parseInt(a[5]),
                        null, 42);
                DistEpBench.Result r = DistEpBench.run(c, comm, comm.rank() == 0 ? new PrintWriter(System.err, true) : null);
                if (comm.rank() == 0) {
                    System.out.print(r.table());
                    DistEpBenchJson.writeAtomically(Path.of(a[6], "ep-bench.json"), DistEpBenchJson.render(r));
                    DistEpBenchJson.writeAtomically(Path.of(a[6], "ep-bench.html"), DistHtmlReport.render(r));
                }
                System.err.println("rank " + comm.rank() + " calls " + r.calls().size() + " none-bound " + r.prefill().getFirst().bound());
                return 0;
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }));
    }
}
