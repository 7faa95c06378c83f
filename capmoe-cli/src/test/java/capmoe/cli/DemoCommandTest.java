package capmoe.cli;

import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.routing.Router;
import capmoe.routing.RouterConfig;
import capmoe.routing.RoutingSample;
import capmoe.routing.RoutingStats;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.*;

/** {@code ./capmoe demo}: one row per policy, numbers equal to routing the same sample directly. */
class DemoCommandTest {

    record Result(int code, String out, String err) { }

    static Result run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = new CommandLine(new Main()).setOut(new PrintWriter(out)).setErr(new PrintWriter(err))
                .setExecutionExceptionHandler(new CleanErrors()).execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    static String row(String out, String label) {
        for (String line : out.split("\n")) if (line.startsWith(label + " ")) return line;
        throw new AssertionError("no row for " + label + " in:\n" + out);
    }

    @Test
    void printsEveryPolicyWithNumbersFromTheRouter() {
        Result r = run("demo", "--tokens", "1024");
        assertEquals(0, r.code(), r.err());
        for (String label : new String[] {"none", "score@1.0", "order@1.0", "reverse@1.0", "random@1.0", "expanded@1.0",
                "expanded_origin@1.0", "device@1.0", "expert_drop@0.1"}) {
            row(r.out(), label);
        }
        assertTrue(row(r.out(), "none").matches("none\\s+-\\s+0\\.0%\\s+0\\.0%.*1\\.00x"), row(r.out(), "none"));

        // score@1.0 routed here directly on the same sample: C = ceil(1*8*1024/64) = 128
        RoutingStats s = new Router(RouterConfig.softmax(64, 8, false), Policy.parse("score@1.0"), Placement.contiguous(64, 8))
                .route(RoutingSample.skewed(1024, 64, 0).logits(), 1024).stats();
        assertEquals(128, s.capacity());
        String score = row(r.out(), "score@1.0");
        assertTrue(score.contains(" 128 "), score);
        assertTrue(score.contains(String.format(Locale.ROOT, "%.1f%%", 100 * s.droppedFraction())), score);
        assertTrue(score.contains(String.format(Locale.ROOT, "%.2f ->", s.expertImbalanceBefore())), score);
        assertTrue(score.endsWith(String.format(Locale.ROOT, "%.2fx", s.speedupBound())), score);
        assertTrue(s.speedupBound() > 1.1, "the skewed sample overloads devices: bound " + s.speedupBound());
    }

    @Test
    void isDeterministicForASeed() {
        assertEquals(run("demo", "--tokens", "512").out(), run("demo", "--tokens", "512").out());
        assertNotEquals(run("demo", "--tokens", "512").out(), run("demo", "--tokens", "512", "--seed", "1").out());
    }

    @Test
    void runsAnExplicitPolicyList() {
        Result r = run("demo", "--tokens", "256", "--experts", "16", "--top-k", "2", "--devices", "4",
                "--policies", "none,score@1.5,device@2.0");
        assertEquals(0, r.code(), r.err());
        row(r.out(), "score@1.5");
        row(r.out(), "device@2.0");
        assertFalse(r.out().contains("order@"), r.out());
    }

    @Test
    void badArgumentsGiveOneLineAndExitCode2() {
        Result r = run("demo", "--policies", "score@0");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("gamma must be > 0"), r.err());
        r = run("demo", "--experts", "8", "--top-k", "2", "--devices", "9");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("devices must be in 1..8"), r.err());
        r = run("demo", "--top-k", "65");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("top_k must be in 1..E=64"), r.err());
        r = run("demo", "--tokens", "0");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("--tokens must be >= 1"), r.err());
    }
}
