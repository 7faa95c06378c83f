package capmoe.serve;

import capmoe.files.AtomicFile;
import capmoe.routing.Policy;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

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
 *   <li>Write report.html ({@link LoadgenReport}) and loadgen.json (each to a temporary file, then renamed).</li>
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
            AtomicFile.writeString(dir.resolve("loadgen.json"), m.writeValueAsString(json(base, workload, runs)));
            AtomicFile.writeString(dir.resolve("report.html"), LoadgenReport.render(base, workload, runs));
        } catch (IOException e) {
            throw new UncheckedIOException("writing the report to " + dir + ": " + e.getMessage(), e);
        }
    }
}
