package capmoe.cli;

import capmoe.runtime.mpi.MpiRun;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code mpirun -np 2 capmoe demo} and {@code eval --ep} over ranks: the bundled olmoe-small on a
 * small workload (2 windows x 32 tokens of each bundled text, one window per rank). Under global
 * capacity scope the ranks compute what one process with 2 devices computes, so every column
 * that is not a timing (dropped, added, max/mean, EP bound, perplexity, vs none) equals the
 * single-process demo's, printed to the last digit; only rank 0 prints and writes; the EP speedup
 * is measured over the ranks.
 */
class DemoRanksTest {

    private static final List<String> WORKLOAD = List.of("--windows", "2", "--seq", "32", "--batch", "2", "--repeats", "2",
            "--policies", "none,score@1.0,device@1.0", "--quiet");

    @Test
    void demoOverTwoRanksPrintsTheSingleProcessQualityAndMeasuresOverTheRanks(@TempDir Path dir) {
        List<String> single = args(WORKLOAD, "--devices", "2", "--out", dir.resolve("one").toString());
        CliRun one = CliRun.of(single.toArray(String[]::new));
        assertEquals(0, one.exitCode(), one.err());

        List<String> ranked = args(WORKLOAD, "--out", dir.resolve("ranks").toString());
        MpiRun.Result r = MpiRun.of(Main.class, ranked.toArray(String[]::new)).ranks(2).timeout(Duration.ofSeconds(240)).run()
                .assertSucceeded();
        String out = r.rankOutput(0);
        assertTrue(out.contains("olmoe-small on heldout.txt: 2 windows x 32 tokens, batch 2, 2 MPI ranks (EP over the ranks, "
                + "capacity scope global)"), r.all());
        assertTrue(out.contains("over the 2 ranks: a call's time = the slowest rank's dispatch + experts + wait + combine"), r.all());
        for (String text : List.of("heldout.txt", "test.txt")) {
            for (String policy : List.of("none", "score@1.0", "device@1.0")) {
                String[] want = fields(DemoCommandTest.row(section(one.out(), text), policy));
                String[] got = fields(DemoCommandTest.row(section(out, text), policy));
                // 0 policy, 1 dropped, 2 added, 3 max/mean, 4 device max/mean, 5 speedup, 6 range (timings), 7 bound,
                // 8 decode speedup (timing), 9 decode bound, 10 perplexity, 11 vs none
                for (int f : new int[] {0, 1, 2, 3, 4, 7, 9, 10, 11}) {
                    assertEquals(want[f], got[f], text + " " + policy + " field " + f + ":\n" + one.out() + "\n---\n" + r.all());
                }
                assertTrue(got[5].matches("\\d+\\.\\d\\dx!?") && got[8].matches("\\d+\\.\\d\\dx!?"), got[5] + " " + got[8]);
            }
        }
        assertTrue(!r.rankOutput(1).contains("olmoe-small") && !r.rankOutput(1).contains("score@1.0"), "only rank 0 prints:\n" + r.all());
        assertTrue(Files.isRegularFile(dir.resolve("ranks/report.html")) && Files.isRegularFile(dir.resolve("ranks/results.json")), r.all());
    }

    @Test
    void evalEpOverRanksReplaysOverTheRanksAndRefusesInJvmOptions(@TempDir Path dir) {
        Path repo = DemoCommand.repoRoot();
        List<String> eval = List.of("eval", "--model", repo.resolve(DemoCommand.DEFAULT_MODEL).toString(),
                "--data-dir", repo.resolve("data").toString(),
                "--tasks", "text:" + repo.resolve("data/wikitext-2/test.txt"), "--windows", "2", "--seq", "32", "--batch", "2",
                "--policies", "score@1.0", "--ep", "--repeats", "1", "--out", dir.toString());
        MpiRun.Result r = MpiRun.of(Main.class, eval.toArray(String[]::new)).ranks(2).timeout(Duration.ofSeconds(240)).run()
                .assertSucceeded();
        assertTrue(r.rankOutput(0).contains("2 MPI ranks, capacity scope global"), r.all());
        assertTrue(r.rankOutput(0).contains("EP speedup"), r.all());

        List<String> refused = args(eval, "--ep-mode", "parallel");
        r = MpiRun.of(Main.class, refused.toArray(String[]::new)).ranks(2).timeout(Duration.ofSeconds(120)).run();
        assertEquals(2, r.exitCode(), r.all());
        assertTrue(r.all().contains("eval: error: --ep-mode is for in-JVM devices; under mpirun --ep replays the MoE layer calls "
                + "over the ranks"), r.all());
    }

    @Test
    void rankOptionsOutsideMpirunAreRefusedInEveryCommandThatHasThem() {
        String model = DemoCommand.repoRoot().resolve(DemoCommand.DEFAULT_MODEL).toString();
        for (String[] a : List.of(new String[] {"demo", "--wire", "bf16"}, new String[] {"eval", "--model", model, "--tasks", "piqa",
                "--capacity-scope", "local"}, new String[] {"ep-bench", "--model", model, "--random-tokens", "--wire", "bf16"},
                new String[] {"generate", "--model", model, "--prompt-ids", "1,2", "--wire", "bf16"})) {
            CliRun r = CliRun.of(a);
            assertEquals(2, r.exitCode(), String.join(" ", a) + ": " + r.err());
            assertTrue(r.err().strip().matches("capmoe " + a[0] + ": error: --(wire|capacity-scope) applies to a run under mpirun "
                    + "\\(mpirun -np D \\./capmoe " + a[0] + " \\.\\.\\.\\)"), r.err());
        }
    }

    private static List<String> args(List<String> base, String... more) {
        List<String> a = new java.util.ArrayList<>();
        if (!base.getFirst().equals("eval")) a.add("demo");
        a.addAll(base);
        a.addAll(Arrays.asList(more));
        return a;
    }

    /** The table printed for one text. */
    private static String section(String out, String text) {
        int at = out.indexOf(" on " + text + ":");
        assertTrue(at >= 0, "no table for " + text + " in:\n" + out);
        int next = out.indexOf(" on ", at + 4 + text.length());
        return out.substring(at, next < 0 ? out.length() : next);
    }

    private static String[] fields(String row) {
        return row.strip().split("\\s+");
    }
}
