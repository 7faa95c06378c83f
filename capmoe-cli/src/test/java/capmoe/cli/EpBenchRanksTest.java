package capmoe.cli;

import capmoe.runtime.mpi.MpiRun;
import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code mpirun -np 2 capmoe ep-bench}: the CLI's entry point as ranks (rank 0 prints and writes). */
class EpBenchRanksTest {

    @Test
    void epBenchRunsOverRanks(@TempDir Path out) {
        Path model = Shared.require("fixtures/hf/olmoe");
        MpiRun.Result r = MpiRun.of(Main.class, "ep-bench", "--model", model.toString(), "--random-tokens",
                "--tokens", "32", "--seq-len", "16", "--batches", "1", "--warmup", "0", "--decode-steps", "1",
                "--policies", "score@1.0", "--json", out.resolve("e.json").toString(), "--html", out.resolve("e.html").toString())
                .ranks(2).timeout(Duration.ofSeconds(180)).run().assertSucceeded();
        assertTrue(r.rankOutput(0).contains("MPI ranks D=2") && r.rankOutput(0).contains("score@1.0"), r.all());
        assertTrue(!r.rankOutput(1).contains("score@1.0"), "only rank 0 prints results:\n" + r.all());
        assertTrue(Files.isRegularFile(out.resolve("e.json")) && Files.isRegularFile(out.resolve("e.html")), r.all());
    }

    @Test
    void commandsThatDoNotRunOverRanksAreRefused() {
        MpiRun.Result r = MpiRun.of(Main.class, "synthetic").ranks(2).timeout(Duration.ofSeconds(120)).run();
        assertEquals(2, r.exitCode(), r.all());
        assertTrue(r.rankLine(0, "capmoe rank 0: under mpirun only demo, ep-bench, eval, generate run over the ranks; run synthetic without mpirun")
                .isPresent(), r.all());
    }

    @Test
    void inJvmOptionsAreRefusedUnderMpirun() {
        Path model = Shared.require("fixtures/hf/olmoe");
        MpiRun.Result r = MpiRun.of(Main.class, "ep-bench", "--model", model.toString(), "--random-tokens", "--devices", "4")
                .ranks(2).timeout(Duration.ofSeconds(120)).run();
        assertEquals(2, r.exitCode(), r.all());
        assertTrue(r.all().matches("(?s).*capmoe rank [01] ep-bench: error: --devices is for in-JVM devices.*"), r.all());
    }
}
