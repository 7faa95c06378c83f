package capmoe.runtime.mpi;

import org.junit.jupiter.api.Test;

import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link MpiJob}: one command on every rank; rank 0 prints; a failing or mismatched rank ends the job at once. */
class MpiJobTest {

    @Test
    void onlyRankZeroPrintsResults() {
        MpiRun.Result r = MpiRun.of(JobRankMain.class, "ok").ranks(3).run().assertSucceeded();
        assertTrue(r.rankLine(0, "result from rank 0").isPresent(), r.all());
        for (int rank = 0; rank < 3; rank++) {
            assertTrue(r.rankLine(rank, "note from rank " + rank).isPresent(), r.all());
        }
        assertFalse(r.rankLine(1, "result").isPresent() || r.rankLine(2, "result").isPresent(), r.all());
    }

    @Test
    void rankWhoseCommandFailsEndsTheJobWithItsCode() {
        MpiRun.Result r = MpiRun.of(JobRankMain.class, "fail", "1").ranks(3).timeout(Duration.ofSeconds(60)).run();
        assertEquals(3, r.exitCode(), r.all());
        assertTrue(r.rankLine(1, "capmoe rank 1 generate: error: cannot open weights /nonexistent").isPresent(), r.all());
    }

    @Test
    void exceptionOnOneRankEndsTheJobNamingTheRank() {
        MpiRun.Result r = MpiRun.of(JobRankMain.class, "throw", "2").ranks(3).timeout(Duration.ofSeconds(60)).run();
        assertEquals(2, r.exitCode(), r.all());
        assertTrue(r.rankLine(2, "capmoe rank 2: expert 7 of layer 2 is missing").isPresent(), r.all());
    }

    @Test
    void mismatchedArgumentsEndTheJobNamingTheRank() {
        MpiRun.Result r = MpiRun.of(JobRankMain.class, "differ", "2").ranks(3).timeout(Duration.ofSeconds(60)).run();
        assertEquals(2, r.exitCode(), r.all());
        assertTrue(r.rankLine(0, "capmoe rank 0: rank 2 was started with other arguments than rank 0").isPresent(),
                r.all());
        assertFalse(r.all().contains("result from rank"), r.all());
    }
}
