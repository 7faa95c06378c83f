package capmoe.cli;

import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static capmoe.cli.DemoCommandTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** {@code ./capmoe route}: the load table of a probability file, and the golden-case check. */
class RouteCommandTest {
    @TempDir Path dir;

    // 4 tokens x 4 experts; top-2, C = ceil(1.0*2*4/4) = 2: expert 0 keeps t2, t0; expert 1 keeps t1, t0; t3 loses both
    static final String PROBS = "[[0.50, 0.30, 0.10, 0.10], [0.40, 0.35, 0.15, 0.10],"
            + " [0.60, 0.10, 0.20, 0.10], [0.27, 0.26, 0.22, 0.25]]";

    Path write(String name, String text) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, text);
        return p;
    }

    @Test
    void printsLoadsBeforeAndAfterAndTheDropRate() throws IOException {
        Path f = write("p.json", PROBS);
        var r = run("route", "--probs", f.toString(), "--strategy", "score", "--gamma", "1.0", "--top-k", "2", "--devices", "2");
        assertEquals(0, r.code(), r.err());
        String out = r.out();
        assertTrue(out.contains("T=4 tokens, E=4 experts, top-2, policy score@1.0, 2 devices"), out);
        assertTrue(out.matches("(?s).*\\n0\\s+0\\s+4\\s+2\\s+2\\n1\\s+0\\s+3\\s+2\\s+1\\n2\\s+1\\s+1\\s+1\\s+0\\n3\\s+1\\s+0\\s+0\\s+0\\n.*"), out);
        assertTrue(out.matches("(?s).*\\n0\\s+2\\s+7\\s+4\\n1\\s+2\\s+1\\s+1\\n.*"), out);
        assertTrue(out.contains("capacity C: 2"), out);
        assertTrue(out.contains("dropped: 3 of 8 top-k pairs (37.50%)"), out);
        assertTrue(out.contains("tokens with no expert left: 1 of 4"), out);
        assertTrue(out.contains("max/mean load per expert: 2.00 -> 1.60, per device: 1.75 -> 1.60"), out);
        assertTrue(out.contains("EP speedup bound (max device load before/after): 7 / 4 = 1.75x"), out);
    }

    @Test
    void acceptsAnObjectWithProbsAndFullSpecs() throws IOException {
        Path bare = write("p.json", PROBS), obj = write("o.json", "{\"probs\": " + PROBS + "}");
        var a = run("route", "--probs", bare.toString(), "--strategy", "score@1.0", "-k", "2", "--devices", "2");
        var b = run("route", "--probs", obj.toString(), "--strategy", "score", "-k", "2", "--placement", "0,0,1,1");
        assertEquals(0, b.code(), b.err());
        assertEquals(a.out().substring(a.out().indexOf('\n')), b.out().substring(b.out().indexOf('\n')));
        var c = run("route", "--probs", obj.toString(), "--strategy", "expanded", "--local", "3", "-k", "2");
        assertEquals(0, c.code(), c.err());
        assertTrue(c.out().contains("policy expanded@1.0:local=3"), c.out());
        assertTrue(c.out().contains("expanded pairs"), c.out());
    }

    static void fails(String expected, String... args) {
        var r = run(args);
        assertEquals(2, r.code(), "exit code for " + String.join(" ", args) + "; out: " + r.out());
        assertTrue(r.err().contains(expected), "'" + expected + "' not in: " + r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
    }

    @Test
    void badProbabilityFiles() throws IOException {
        fails("row 1 has 3 values, row 0 has 4", "route", "--probs", write("a.json", "[[0.1,0.2,0.3,0.4],[0.1,0.2,0.3]]").toString(), "--strategy", "none", "-k", "2");
        fails("[0][1]: \"x\" is not a number", "route", "--probs", write("b.json", "[[0.1,\"x\"]]").toString(), "--strategy", "none", "-k", "1");
        fails("has no \"probs\" key", "route", "--probs", write("c.json", "{\"p\": []}").toString(), "--strategy", "none");
        fails("expected a non-empty T x E array", "route", "--probs", write("d.json", "[]").toString(), "--strategy", "none");
        fails("not valid JSON", "route", "--probs", write("e.json", "[[0.1, 0.2").toString(), "--strategy", "none");
        fails("no such file", "route", "--probs", dir.resolve("missing.json").toString(), "--strategy", "none");
        fails("probabilities: NaN at token 0, expert 1", "route", "--probs", write("f.json", "[[0.1, NaN]]").toString(), "--strategy", "none", "-k", "1");
        fails("1.5 at token 0, expert 0 is not in [0, 1]", "route", "--probs", write("g.json", "[[1.5, 0.2]]").toString(), "--strategy", "none", "-k", "1");
    }

    @Test
    void badPolicyOrRouterArguments() throws IOException {
        String f = write("p.json", PROBS).toString();
        fails("--top-k 8 exceeds the 4 experts", "route", "--probs", f, "--strategy", "score");
        fails("unknown strategy 'capacity'", "route", "--probs", f, "--strategy", "capacity", "-k", "2");
        fails("gamma must be > 0", "route", "--probs", f, "--strategy", "score", "--gamma", "-1", "-k", "2");
        fails("rho must be in [0, 1]", "route", "--probs", f, "--strategy", "expert_drop", "--rho", "2", "-k", "2");
        fails("--strategy is required", "route", "--probs", f, "-k", "2");
        fails("local expert 4 does not exist (E=4", "route", "--probs", f, "--strategy", "expanded", "--local", "0-4", "-k", "2");
        fails("option 'seed=3' does not apply to 'score'", "route", "--probs", f, "--strategy", "score", "--seed", "3", "-k", "2");
        fails("lists 3 experts but the router has 4", "route", "--probs", f, "--strategy", "device", "--placement", "0,0,1", "-k", "2");
        fails("devices must be in 1..4", "route", "--probs", f, "--strategy", "device", "--devices", "5", "-k", "2");
    }

    @Test
    void everyGoldenCasePasses() {
        Path cases = Shared.require("fixtures/routing/cases.json");
        var r = run("route", "--cases", cases.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        assertEquals("155 passed, 0 failed", r.out().strip());
    }

    @Test
    void aWrongExpectationIsReportedAndExitsNonZero() throws IOException {
        String good = "{\"probs\": " + PROBS + ", \"top_k\": 2, \"gamma\": 1.0, \"strategy\": \"score\", \"expected\": "
                + "{\"capacity\": 2, \"load\": [2, 2, 1, 0], \"kept_pairs\": 5, \"tokens\": ["
                + "{\"experts\": [0, 1], \"weights\": [0.5, 0.3]}, {\"experts\": [1], \"weights\": [0.35]},"
                + "{\"experts\": [0, 2], \"weights\": [0.6, 0.2]}, {\"experts\": [], \"weights\": []}]}}";
        String bad = good.replace("\"load\": [2, 2, 1, 0]", "\"load\": [2, 2, 0, 1]").replace("[0.35]", "[0.36]");
        Path f = write("cases.json", "{\"cases\": [" + good + ", " + bad + "]}");
        var r = run("route", "--cases", f.toString());
        assertEquals(1, r.code(), r.out() + r.err());
        String[] lines = r.out().strip().split("\n");
        assertEquals(3, lines.length, r.out());
        assertTrue(lines[0].startsWith("MISMATCH case 1: load [2, 2, 1, 0], expected [2, 2, 0, 1]"), lines[0]);
        assertTrue(lines[1].startsWith("MISMATCH case 1: token 1 expert 1 weight 0.35"), lines[1]);
        assertEquals("1 passed, 1 failed", lines[2]);
    }

    @Test
    void malformedCaseFiles() throws IOException {
        fails("case 0: missing \"top_k\"", "route", "--cases",
                write("a.json", "{\"cases\": [{\"probs\": [[1.0]], \"expected\": {\"tokens\": []}}]}").toString());
        fails("expected {\"cases\": [...]} or an array of cases", "route", "--cases", write("b.json", "{\"x\": 1}").toString());
    }
}
