package capmoe.runtime.mpi;

import capmoe.runtime.mpi.MpiRun.Transport;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Open MPI binding under a real {@code mpirun}: every collective with uneven blocks, every
 * element checked bit for bit by the ranks themselves ({@link CollectivesRankMain}), on 2 and 4
 * ranks, over shared memory and over TCP on loopback. Fails (does not skip) without mpirun.
 */
class MpiCommunicatorTest {

    @ParameterizedTest(name = "-np {0} over {1}")
    @CsvSource({"2, SHARED_MEMORY", "4, SHARED_MEMORY", "2, TCP", "4, TCP"})
    void everyCollectiveDeliversEveryElement(int ranks, Transport transport) {
        MpiRun.Result r = MpiRun.of(CollectivesRankMain.class).ranks(ranks).transport(transport).run()
                .assertSucceeded();
        for (int rank = 0; rank < ranks; rank++) {
            String prefix = "rank " + rank + " of " + ranks + ": OK";
            assertTrue(r.rankLine(rank, prefix).isPresent(), "rank " + rank + " did not report OK:\n" + r.all());
            String error = r.rankLine(rank, "rank " + rank + " error: ").orElseThrow(
                    () -> new AssertionError("no MPI error line:\n" + r.all()));
            assertTrue(error.contains("MPI_Bcast failed: ") && error.contains("MPI_ERR_ROOT"), error);
        }
    }
}
