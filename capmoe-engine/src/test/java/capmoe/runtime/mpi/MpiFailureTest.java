package capmoe.runtime.mpi;

import capmoe.runtime.mpi.MpiRun.Transport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import java.time.Duration;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A job whose rank fails ends everywhere within seconds, with a line naming the rank and the
 * cause: a rank killed with {@code kill -9}, a rank that aborts, a hostfile that does not exist,
 * a hostfile naming a host that cannot be reached.
 * Also: the JVM still owns its signals after {@code MPI_Init}.
 */
class MpiFailureTest {

    private static final Pattern READY = Pattern.compile("rank (\\d+) pid (\\d+) ready");

    @Test
    void rankKilledWithSigkillEndsTheJobWithinTenSeconds() {
        MpiRun.Job job = MpiRun.of(FailureRankMain.class, "exchange").ranks(4).transport(Transport.TCP)
                .timeout(Duration.ofSeconds(120)).start();
        MpiRun.Result ready = job.awaitOutput(r -> r.ranks().stream()
                .allMatch(lines -> lines.stream().anyMatch(l -> READY.matcher(l).matches())), Duration.ofSeconds(90));
        Matcher m = READY.matcher(ready.rankLine(1, "rank 1 pid").orElseThrow());
        assertTrue(m.matches());
        long pid = Long.parseLong(m.group(2));
        long t0 = System.nanoTime();
        ProcessHandle.of(pid).orElseThrow(() -> new AssertionError("rank 1 (pid " + pid + ") is not running"))
                .destroyForcibly(); // SIGKILL
        MpiRun.Result r = job.await();
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(!r.timedOut() && seconds < 10, "the job took " + seconds + " s to end after kill -9:\n" + r.all());
        assertNotEquals(0, r.exitCode(), r.all());
        assertTrue(r.mpirun().stream().anyMatch(l -> l.contains("process rank 1 ") && l.contains("signal 9")),
                "no line names rank 1 and signal 9:\n" + r.all());
    }

    @Test
    void rankThatAbortsEndsTheJobWithItsLineAndExitCode() {
        long t0 = System.nanoTime();
        MpiRun.Result r = MpiRun.of(FailureRankMain.class, "abort", "2").ranks(4).run();
        assertEquals(2, r.exitCode(), r.all());
        assertTrue(r.rankOutput(2).contains("capmoe rank 2: cannot open weights /nonexistent/model.safetensors"),
                r.all());
        // the others were in an exchange loop of 60 s: they were ended, not left waiting
        assertTrue((System.nanoTime() - t0) / 1e9 < 20, "took " + r.elapsed() + ":\n" + r.all());
    }

    @Test
    void missingHostfileEndsAtOnceNamingIt() {
        MpiRun.Result r = MpiRun.of(FailureRankMain.class, "exchange").ranks(2)
                .mpirunArgs("--hostfile", "/nonexistent/capmoe-hosts").timeout(Duration.ofSeconds(30)).run();
        assertTrue(!r.timedOut() && r.exitCode() != 0, r.all());
        assertTrue(r.all().contains("/nonexistent/capmoe-hosts"), r.all());
    }

    /**
     * A hostfile naming a host that does not resolve: mpirun's ssh fails at once, mpirun names the
     * host (ssh's line; Open MPI passes the name without its domain) and ends the job, the local
     * rank included, within seconds. (A host that resolves but does not answer waits for ssh's
     * connect timeout: README says to pass {@code --mca plm_rsh_args "-o ConnectTimeout=5"}.)
     */
    @Test
    void unreachableHostInTheHostfileEndsTheJobWithinSecondsNamingIt(@TempDir Path dir) throws IOException {
        Path hosts = dir.resolve("hosts");
        Files.writeString(hosts, "localhost slots=1\nnonexistent.invalid slots=1\n");
        long t0 = System.nanoTime();
        MpiRun.Result r = MpiRun.of(FailureRankMain.class, "exchange").ranks(2)
                .mpirunArgs("--hostfile", hosts.toString(), "--mca", "plm_rsh_args", "-o ConnectTimeout=5 -o BatchMode=yes")
                .timeout(Duration.ofSeconds(60)).run();
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertTrue(!r.timedOut() && r.exitCode() != 0 && seconds < 10, "took " + seconds + " s, exit " + r.exitCode() + ":\n" + r.all());
        assertTrue(r.mpirun().stream().anyMatch(l -> l.contains("nonexistent") && l.contains("resolve")),
                "no line names the host:\n" + r.all());
    }

    @Test
    void jvmNullChecksStillWorkAfterMpiInit() {
        MpiRun.Result r = MpiRun.of(FailureRankMain.class, "null-checks").ranks(2).run().assertSucceeded();
        for (int rank = 0; rank < 2; rank++) {
            assertTrue(r.rankLine(rank, "rank " + rank + ": null checks OK").isPresent(), r.all());
        }
    }
}
