package capmoe.serve;

import capmoe.routing.Policy;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;

/**
 * {@code ./capmoe loadgen --model DIR --policies none,score@1.5,score@1.0}: the same workload against
 * one server per policy, all in this process (each on its own ephemeral port), alternating between
 * them so that a machine shared with other work disturbs every policy alike; then one HTML report and
 * one JSON with every policy's latency percentiles, throughput and decode-step expert load.
 *
 * <ol>
 *   <li>Start one {@link OpenAiServer} per policy (all other options equal).</li>
 *   <li>Warm each up: {@code concurrency} requests of 16 tokens, not measured (the JIT compiles the
 *       same code for every policy before the measurement).</li>
 *   <li>{@code rounds} rounds; in each, every server in turn gets {@code requests / rounds} requests
 *       at the given concurrency (one server busy at a time).</li>
 *   <li>Per policy: the requests of all its rounds together ({@link LoadGen#summarize}); stop the servers.</li>
 *   <li>Write report.html and loadgen.json (each to a temporary file, then renamed).</li>
 * </ol>
 */
public final class ServeComparison {

    /**
     * One policy's measurement, and how far its texts follow the first policy's (the baseline,
     * {@code none} when given): the fraction of requests whose text is identical, and the mean over
     * requests of the common prefix's share of the baseline's text. At temperature 0 a policy that
     * drops nothing gives 1 and 1; this is the quality side of the latency columns.
     */
    public record Run(String policy, LoadGen.Result result, double identicalToBaseline, double prefixAgreement) { }

    private ServeComparison() { }

    public static List<Run> run(ServeOptions base, List<Policy> policies, LoadGen.Config workload, int rounds, PrintStream progress) {
        if (rounds < 1 || workload.requests() % rounds != 0) {
            throw new IllegalArgumentException("--rounds must be >= 1 and divide --requests (" + workload.requests() + "), got " + rounds);
        }
        List<OpenAiServer> servers = new ArrayList<>();
        try {
            for (Policy p : policies) servers.add(OpenAiServer.start(base.withPolicy(p, base.decodeCapacity())));
            java.net.http.HttpClient client = LoadGen.client();
            List<LoadGen.Metrics> before = new ArrayList<>();
            List<LoadGen.Config> configs = new ArrayList<>();
            List<List<LoadGen.Sample>> samples = new ArrayList<>();
            for (OpenAiServer server : servers) {
                LoadGen.Config warm = new LoadGen.Config(server.url(), workload.concurrency(), workload.concurrency(),
                        workload.prompts(), Math.min(16, workload.maxTokens()), workload.temperature(), true);
                LoadGen.drive(client, warm, null);
                before.add(LoadGen.Metrics.scrape(client, server.url()));
                configs.add(new LoadGen.Config(server.url(), workload.concurrency(), workload.requests() / rounds, workload.prompts(),
                        workload.maxTokens(), workload.temperature(), workload.ignoreEos()));
                samples.add(new ArrayList<>());
            }
            int perRound = workload.requests() / rounds;
            for (int round = 0; round < rounds; round++) {
                for (int i = 0; i < servers.size(); i++) {
                    if (progress != null) progress.printf(Locale.ROOT, "round %d/%d, %s%n", round + 1, rounds, policies.get(i).label());
                    // round r sends prompts r*n .. r*n+n-1 (mod P): the rounds together are the whole workload
                    LoadGen.Config c = configs.get(i);
                    LoadGen.Config shifted = new LoadGen.Config(c.url(), c.concurrency(), c.requests(),
                            rotate(workload.prompts(), round * perRound), c.maxTokens(), c.temperature(), c.ignoreEos());
                    samples.get(i).add(LoadGen.drive(client, shifted, progress));
                }
            }
            List<Run> runs = new ArrayList<>();
            List<String> baseline = texts(samples.getFirst());
            for (int i = 0; i < servers.size(); i++) {
                LoadGen.Result r = LoadGen.summarize(configs.get(i), samples.get(i), before.get(i), LoadGen.Metrics.scrape(client, servers.get(i).url()));
                List<String> mine = texts(samples.get(i));
                double identical = 0, prefix = 0;
                for (int k = 0; k < mine.size(); k++) {
                    String a = baseline.get(k), b = mine.get(k);
                    if (a == null || b == null) continue;
                    if (a.equals(b)) identical++;
                    int common = 0;
                    while (common < Math.min(a.length(), b.length()) && a.charAt(common) == b.charAt(common)) common++;
                    prefix += a.isEmpty() ? 1 : (double) common / a.length();
                }
                runs.add(new Run(policies.get(i).label(), r, identical / mine.size(), prefix / mine.size()));
            }
            return runs;
        } finally {
            for (OpenAiServer s : servers) s.close();
        }
    }

    private static List<String> rotate(List<String> prompts, int by) {
        List<String> out = new ArrayList<>(prompts.size());
        for (int i = 0; i < prompts.size(); i++) out.add(prompts.get((i + by) % prompts.size()));
        return out;
    }

    /** The texts of a server's requests, round after round (null for a failed request). */
    private static List<String> texts(List<LoadGen.Sample> samples) {
        List<String> out = new ArrayList<>();
        for (LoadGen.Sample s : samples) for (LoadGen.RequestTiming t : s.timings()) out.add(t.text());
        return out;
    }

    /** loadgen.json: the workload, the server options and each policy's result. */
    public static ObjectNode json(ServeOptions base, LoadGen.Config workload, List<Run> runs) {
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        root.put("model", base.model().toString()).put("decode_capacity", base.decodeCapacity())
                .put("max_running", base.maxRunning()).put("max_batch_tokens", base.maxBatchTokens()).put("devices", base.devices())
                .put("requests", workload.requests()).put("concurrency", workload.concurrency()).put("max_tokens", workload.maxTokens())
                .put("prompts", workload.prompts().size()).put("machine_cores", Runtime.getRuntime().availableProcessors());
        ArrayNode a = root.putArray("runs");
        for (Run r : runs) {
            a.addObject().put("policy", r.policy()).put("identical_to_baseline", r.identicalToBaseline())
                    .put("prefix_agreement", r.prefixAgreement()).set("result", m.valueToTree(r.result()));
        }
        return root;
    }

    /** Writes report.html and loadgen.json into {@code dir}. */
    public static void write(Path dir, ServeOptions base, LoadGen.Config workload, List<Run> runs) {
        try {
            Files.createDirectories(dir);
            ObjectMapper m = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            atomic(dir.resolve("loadgen.json"), m.writeValueAsString(json(base, workload, runs)));
            atomic(dir.resolve("report.html"), html(base, workload, runs));
        } catch (IOException e) {
            throw new UncheckedIOException("writing the report to " + dir + ": " + e.getMessage(), e);
        }
    }

    private static void atomic(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, text, StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    static String html(ServeOptions base, LoadGen.Config w, List<Run> runs) {
        StringBuilder b = new StringBuilder();
        b.append("<!doctype html><html><head><meta charset=\"utf-8\"><title>capmoe serving: policies under load</title><style>")
                .append("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}")
                .append("table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}")
                .append("th{background:#f3f3f3}td:first-child{text-align:left;font-family:monospace}")
                .append(".charts{display:flex;flex-wrap:wrap;gap:24px}.chart h3{font-size:14px;margin:4px 0}")
                .append("</style></head><body>");
        b.append("<h1>Serving under load: capacity policies side by side</h1>");
        b.append(String.format(Locale.ROOT, "<p>Model <code>%s</code>; %d requests per policy, concurrency %d, %d new tokens each (ignore_eos: %s), "
                        + "%d prompt lines; server: %d KV slots, %d tokens per step, decode capacity %s, %d device(s); machine: %d cores. "
                        + "Same workload against one server per policy in one process, alternating between the servers in rounds.</p>",
                esc(base.model().getFileName().toString()), w.requests(), w.concurrency(), w.maxTokens(), w.ignoreEos(), w.prompts().size(),
                base.maxRunning(), base.maxBatchTokens(), base.decodeCapacity() ? "on" : "off", base.devices(),
                Runtime.getRuntime().availableProcessors()));
        b.append("<h2>Latency and throughput (what clients saw)</h2><table><tr><th>policy</th><th>ok</th><th>failed</th><th>tokens/s</th>")
                .append("<th>req/s</th><th>TTFT p50 ms</th><th>TTFT p95 ms</th><th>TTFT p99 ms</th><th>TPOT p50 ms</th><th>TPOT p95 ms</th>")
                .append("<th>TPOT p99 ms</th><th>texts identical to " + esc(runs.getFirst().policy()) + "</th><th>common prefix</th></tr>");
        for (Run r : runs) {
            LoadGen.Result x = r.result();
            b.append(String.format(Locale.ROOT, "<tr><td>%s</td><td>%d</td><td>%d</td><td>%.1f</td><td>%.2f</td><td>%.1f</td><td>%.1f</td>"
                            + "<td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.0f%%</td><td>%.0f%%</td></tr>",
                    esc(r.policy()), x.completed(), x.failed(), x.throughput(), x.requestsPerSecond(), x.ttft().p50() * 1e3,
                    x.ttft().p95() * 1e3, x.ttft().p99() * 1e3, x.tpot().p50() * 1e3, x.tpot().p95() * 1e3, x.tpot().p99() * 1e3,
                    100 * r.identicalToBaseline(), 100 * r.prefixAgreement()));
        }
        b.append("</table><h2>Decode steps: MoE load (from the server's counters)</h2><table><tr><th>policy</th><th>decode steps</th>")
                .append("<th>tokens/step</th><th>expert max/mean routed</th><th>expert max/mean kept</th><th>dropped %</th><th>EP bound</th>")
                .append("<th>step ms</th><th>EP MoE critical path ms/step</th></tr>");
        for (Run r : runs) {
            LoadGen.MoeLoad m = r.result().moe();
            b.append(String.format(Locale.ROOT, "<tr><td>%s</td><td>%d</td><td>%.1f</td><td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%.2f</td>"
                            + "<td>%.2f</td><td>%.2f</td></tr>",
                    esc(r.policy()), m.decodeSteps(), m.tokensPerDecodeStep(), m.expertMaxOverMeanRouted(), m.expertMaxOverMeanKept(),
                    100 * m.droppedFraction(), m.epBound(), m.decodeStepMs(), m.epCriticalPathMsPerDecodeStep()));
        }
        b.append("</table><div class=\"charts\">");
        chart(b, runs, "Throughput (output tokens/s, higher is better)", r -> r.result().throughput());
        chart(b, runs, "TTFT p50 (ms)", r -> r.result().ttft().p50() * 1e3);
        chart(b, runs, "TTFT p99 (ms)", r -> r.result().ttft().p99() * 1e3);
        chart(b, runs, "TPOT p50 (ms)", r -> r.result().tpot().p50() * 1e3);
        chart(b, runs, "TPOT p99 (ms)", r -> r.result().tpot().p99() * 1e3);
        chart(b, runs, "Expert max/mean load, decode steps (kept)", r -> r.result().moe().expertMaxOverMeanKept());
        chart(b, runs, "EP bound of the decode steps", r -> r.result().moe().epBound());
        chart(b, runs, "EP MoE critical path per decode step (ms)", r -> r.result().moe().epCriticalPathMsPerDecodeStep());
        b.append("</div><p>Texts identical: share of requests whose generated text equals the first policy's for the same prompt "
                + "(temperature 0); common prefix: mean share of the first policy's text that the policy's text starts with. "
                + "TTFT: time from sending to the first streamed chunk; TPOT: (last chunk − first chunk) / (tokens − 1) per request; "
                + "percentiles interpolate linearly. Expert max/mean: per MoE layer and decode step the busiest expert's pairs over the mean, "
                + "summed over layers and steps (routed = plain top-k, kept = after the policy). EP bound: sum of the busiest device's pairs "
                + "before / after the policy over the decode steps (1 = the policy did not lower the straggler). EP MoE critical path: the "
                + "expert-parallel runtime's measured time of the MoE layers per decode step (the slowest device in timed-serial mode, "
                + "the wall time in parallel mode; 0 without --devices above 1). "
                + "From the server's /metrics counters, read before and after each run.</p></body></html>\n");
        return b.toString();
    }

    /** A horizontal bar per policy, inline SVG. */
    private static void chart(StringBuilder b, List<Run> runs, String title, ToDoubleFunction<Run> value) {
        double max = runs.stream().mapToDouble(value).filter(Double::isFinite).max().orElse(1);
        if (!(max > 0)) max = 1;
        int rowH = 26, width = 320, label = 110, h = runs.size() * rowH + 8;
        b.append("<div class=\"chart\"><h3>").append(esc(title)).append("</h3>")
                .append(String.format(Locale.ROOT, "<svg width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">", width + label + 70, h, esc(title)));
        String[] colors = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948"};
        for (int i = 0; i < runs.size(); i++) {
            double v = value.applyAsDouble(runs.get(i));
            double len = Double.isFinite(v) ? width * v / max : 0;
            int y = 4 + i * rowH;
            b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"end\" font-family=\"monospace\">%s</text>",
                    label - 6, y + 16, esc(runs.get(i).policy())));
            b.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>", label, y + 3, len, rowH - 8,
                    colors[i % colors.length]));
            b.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" font-size=\"12\">%s</text>", label + len + 4, y + 16,
                    Double.isFinite(v) ? String.format(Locale.ROOT, v >= 100 ? "%.0f" : "%.2f", v) : "n/a"));
        }
        b.append("</svg></div>");
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
