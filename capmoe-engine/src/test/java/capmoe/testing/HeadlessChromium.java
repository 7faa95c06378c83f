package capmoe.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Loads an HTML report in a real headless Chromium (Debian's {@code chromium}; {@code .ci/run}
 * installs it) and checks what a person would see: the page ran without errors and every chart
 * drew a non-empty SVG. Fails, never skips, when Chromium is missing.
 *
 * <p>Steps of {@link #check}: 1. run {@code chromium --headless --dump-dom} on the file, which
 * prints the DOM after the scripts ran; 2. read {@code data-charts-rendered} (set by
 * {@link capmoe.report.ChartPage}'s script once every chart is drawn) and the
 * {@code chart-errors} block (window errors and console.error calls); 3. count the SVG shapes
 * inside every {@code class="chart"} element; 4. scan Chromium's log for console errors.
 */
public final class HeadlessChromium {
    private HeadlessChromium() { }

    /** What the browser rendered. */
    public record Rendered(String dom, int chartsRendered, String errors, List<Integer> shapesPerChart, String log) { }

    /** The Chromium executable: $CHROMIUM, else chromium / chromium-browser on the PATH. */
    public static Path executable() {
        String env = System.getenv("CHROMIUM");
        if (env != null && Files.isExecutable(Path.of(env))) return Path.of(env);
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            for (String name : List.of("chromium", "chromium-browser")) {
                Path p = Path.of(dir, name);
                if (Files.isExecutable(p)) return p;
            }
        }
        fail("headless Chromium is missing: install Debian's chromium (apt-get install -y --no-install-recommends chromium; "
                + ".ci/run does it) or set CHROMIUM=/path/to/chromium");
        return null;
    }

    /** Loads {@code html} and returns what was rendered. */
    public static Rendered load(Path html) throws IOException, InterruptedException {
        Path profile = Files.createTempDirectory("capmoe-chromium");
        try {
            List<String> cmd = new ArrayList<>(List.of(executable().toString(), "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--no-first-run", "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0",
                    "--virtual-time-budget=10000", "--dump-dom", html.toUri().toString()));
            Process p = new ProcessBuilder(cmd).redirectErrorStream(false).start();
            byte[][] streams = new byte[2][];
            Thread errReader = Thread.ofVirtual().start(() -> {
                try {
                    streams[1] = p.getErrorStream().readAllBytes();
                } catch (IOException e) {
                    streams[1] = new byte[0];
                }
            });
            streams[0] = p.getInputStream().readAllBytes();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                fail("chromium did not finish loading " + html + " within 120 s");
            }
            errReader.join();
            String dom = new String(streams[0], StandardCharsets.UTF_8);
            String log = new String(streams[1], StandardCharsets.UTF_8);
            if (dom.isBlank()) fail("chromium printed no DOM for " + html + " (exit " + p.exitValue() + "):\n" + log);
            Matcher m = Pattern.compile("data-charts-rendered=\"(\\d+)\"").matcher(dom);
            int rendered = m.find() ? Integer.parseInt(m.group(1)) : -1;
            Matcher e = Pattern.compile("<pre id=\"chart-errors\">(.*?)</pre>", Pattern.DOTALL).matcher(dom);
            String errors = e.find() ? e.group(1).strip() : "(no chart-errors block)";
            return new Rendered(dom, rendered, errors, shapesPerChart(dom), log);
        } finally {
            try (var files = Files.walk(profile)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    /**
     * Loads the page and asserts: no errors, {@code charts} charts rendered, each with an SVG
     * holding at least a few drawn shapes, and no console error in Chromium's log.
     */
    public static Rendered check(Path html, int charts) throws IOException, InterruptedException {
        Rendered r = load(html);
        assertEquals("", r.errors(), "errors while drawing " + html);
        assertEquals(charts, r.chartsRendered(), "charts drawn in " + html);
        assertEquals(charts, r.shapesPerChart().size(), "chart elements in " + html);
        for (int i = 0; i < charts; i++) {
            assertTrue(r.shapesPerChart().get(i) >= 3, "chart " + i + " of " + html + " drew " + r.shapesPerChart().get(i) + " SVG shapes");
        }
        for (String line : r.log().lines().toList()) {
            assertTrue(!(line.contains("CONSOLE") && (line.contains("Uncaught") || line.contains(":ERROR:"))),
                    "console error while loading " + html + ": " + line);
        }
        return r;
    }

    /** SVG shapes (path, rect, text, line...) inside each chart element, in order. */
    static List<Integer> shapesPerChart(String dom) {
        List<Integer> counts = new ArrayList<>();
        Matcher m = Pattern.compile("<div class=\"chart\" id=\"chart-\\d+\"").matcher(dom);
        List<Integer> starts = new ArrayList<>();
        while (m.find()) starts.add(m.start());
        for (int i = 0; i < starts.size(); i++) {
            String part = dom.substring(starts.get(i), i + 1 < starts.size() ? starts.get(i + 1) : dom.length());
            int svg = part.indexOf("<svg");
            if (svg < 0) {
                counts.add(0);
                continue;
            }
            int end = part.indexOf("</svg>", svg);
            String inner = part.substring(svg, end < 0 ? part.length() : end);
            Matcher shapes = Pattern.compile("<(path|rect|text|line|circle|polyline|polygon)\\b").matcher(inner);
            int n = 0;
            while (shapes.find()) n++;
            counts.add(n);
        }
        return counts;
    }
}
