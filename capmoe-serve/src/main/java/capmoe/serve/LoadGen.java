package capmoe.serve;

import capmoe.files.TextFiles;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * {@code ./capmoe loadgen}: sends a fixed workload of streaming completions to a server and measures
 * what its clients see, as vLLM's benchmark_serving does: per request the time to first token (the
 * first streamed chunk), the time per output token ((last chunk − first chunk) / (tokens − 1)), the
 * whole latency; throughput = output tokens / wall time. The server's {@code /metrics} read before and
 * after give the MoE load of the run's decode steps ({@link MoeLoad}).
 *
 * <ol>
 *   <li>Read /metrics.</li>
 *   <li>{@code concurrency} clients (virtual threads) take requests 0..M−1 in order; request i sends
 *       prompt i mod P, {@code max_tokens} K, {@code ignore_eos} so every request makes K tokens.</li>
 *   <li>Read /metrics again; the difference is this run's.</li>
 * </ol>
 */
public final class LoadGen {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * @param url        server base URL, e.g. http://127.0.0.1:8000
     * @param ignoreEos  every request generates exactly {@code maxTokens} (the same work for every policy)
     */
    public record Config(String url, int concurrency, int requests, List<String> prompts, int maxTokens,
                         double temperature, boolean ignoreEos) {
        public Config {
            if (concurrency < 1) throw new IllegalArgumentException("--concurrency must be >= 1, got " + concurrency);
            if (requests < 1) throw new IllegalArgumentException("--requests must be >= 1, got " + requests);
            if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be >= 1, got " + maxTokens);
            if (prompts.isEmpty()) throw new IllegalArgumentException("no prompts (the prompt file has no non-empty line)");
            prompts = List.copyOf(prompts);
            url = url.replaceAll("/+$", "");
        }
    }

    /** One request as the client saw it (seconds; NaN where it did not get that far) and the text it got. */
    public record RequestTiming(double ttft, double tpot, double latency, int outputTokens, String text, String error) { }

    /** p50/p95/p99 of one quantity over the successful requests (linear interpolation, as numpy's default). */
    public record Percentiles(double p50, double p95, double p99, double mean) {
        static Percentiles of(double[] values) {
            double[] v = Arrays.stream(values).filter(x -> !Double.isNaN(x)).sorted().toArray();
            if (v.length == 0) return new Percentiles(Double.NaN, Double.NaN, Double.NaN, Double.NaN);
            return new Percentiles(at(v, 0.50), at(v, 0.95), at(v, 0.99), Arrays.stream(v).average().orElse(Double.NaN));
        }

        private static double at(double[] sorted, double q) {
            double pos = q * (sorted.length - 1);
            int lo = (int) Math.floor(pos), hi = (int) Math.ceil(pos);
            return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
        }
    }

    /**
     * The MoE routing of the run's decode-only steps, summed over MoE layers and steps (from the
     * server's counters): tokens per decode step, expert max/mean load (routed = plain top-k, kept =
     * after the policy), dropped fraction, and the EP bound sum(max device load routed) / sum(max
     * device load kept), as {@link capmoe.routing.LoadSummary#speedupBound()}; the MoE layers'
     * measured EP critical path per decode step (0 without the EP runtime) and the whole decode step's wall time.
     */
    public record MoeLoad(long decodeSteps, double tokensPerDecodeStep, double expertMaxOverMeanRouted,
                          double expertMaxOverMeanKept, double droppedFraction, double epBound, int devices,
                          double epCriticalPathMsPerDecodeStep, double decodeStepMs) {

        static MoeLoad between(Metrics before, Metrics after) {
            String d = "phase=\"decode\"";
            double steps = after.sum("capmoe_steps_total", d) - before.sum("capmoe_steps_total", d);
            double tokens = after.sum("capmoe_step_tokens_total", d) - before.sum("capmoe_step_tokens_total", d);
            double experts = after.sum("capmoe_moe_experts", "");
            double routed = diff(before, after, "capmoe_moe_pairs_total", d, "stage=\"routed\"");
            double kept = diff(before, after, "capmoe_moe_pairs_total", d, "stage=\"kept\"");
            double maxRouted = diff(before, after, "capmoe_moe_expert_load_max_total", d, "stage=\"routed\"");
            double maxKept = diff(before, after, "capmoe_moe_expert_load_max_total", d, "stage=\"kept\"");
            double devRouted = diff(before, after, "capmoe_moe_device_load_max_total", d, "stage=\"routed\"");
            double devKept = diff(before, after, "capmoe_moe_device_load_max_total", d, "stage=\"kept\"");
            double dropped = diff(before, after, "capmoe_moe_dropped_pairs_total", d, "");
            double critical = diff(before, after, "capmoe_ep_moe_seconds_total", d, "kind=\"critical_path\"");
            double stepSeconds = diff(before, after, "capmoe_step_seconds_total", d);
            return new MoeLoad((long) steps, steps == 0 ? 0 : tokens / steps,
                    routed == 0 ? 0 : maxRouted / (routed / experts), kept == 0 ? 0 : maxKept / (kept / experts),
                    routed == 0 ? 0 : dropped / routed, devKept == 0 ? 1 : devRouted / devKept,
                    (int) after.sum("capmoe_moe_devices", ""), steps == 0 ? 0 : 1e3 * critical / steps,
                    steps == 0 ? 0 : 1e3 * stepSeconds / steps);
        }

        private static double diff(Metrics before, Metrics after, String name, String... labels) {
            return after.sum(name, labels) - before.sum(name, labels);
        }
    }

    /**
     * What a run measured.
     *
     * @param wallSeconds   from the first request sent to the last response ended
     * @param throughput    output tokens per second of wall time
     */
    public record Result(int requests, int completed, int failed, long outputTokens, double wallSeconds,
                         double throughput, double requestsPerSecond, Percentiles ttft, Percentiles tpot,
                         Percentiles latency, MoeLoad moe, List<String> errors) {

        /** The console summary (the same values as the JSON and the report). */
        public String summary(String label) {
            return String.format(Locale.ROOT,
                    "%-12s %4d ok %3d failed  %8.1f tok/s  %5.2f req/s  TTFT p50/p95/p99 %7.1f/%7.1f/%7.1f ms  "
                            + "TPOT p50/p95/p99 %6.1f/%6.1f/%6.1f ms  decode: %4.1f tok/step, expert max/mean %4.2f -> %4.2f, "
                            + "dropped %5.2f%%, EP bound %4.2f (%d devices), step %.2f ms, EP MoE critical path %.2f ms",
                    label, completed, failed, throughput, requestsPerSecond, ttft.p50() * 1e3, ttft.p95() * 1e3, ttft.p99() * 1e3,
                    tpot.p50() * 1e3, tpot.p95() * 1e3, tpot.p99() * 1e3, moe.tokensPerDecodeStep(), moe.expertMaxOverMeanRouted(),
                    moe.expertMaxOverMeanKept(), 100 * moe.droppedFraction(), moe.epBound(), moe.devices(), moe.decodeStepMs(),
                    moe.epCriticalPathMsPerDecodeStep());
        }
    }

    private LoadGen() { }

    /** Non-empty lines of a text file, in order. */
    public static List<String> readPrompts(Path file) {
        List<String> prompts = TextFiles.read(file, "--prompt-file").lines().map(String::strip).filter(s -> !s.isEmpty()).toList();
        if (prompts.isEmpty()) throw new IllegalArgumentException("--prompt-file " + file + " has no prompt (no non-empty line)");
        return prompts;
    }

    /** Runs the workload (steps 1-3 of the class comment); progress lines go to {@code progress} (may be null). */
    public static Result run(Config c, PrintStream progress) {
        HttpClient client = client();
        Metrics before = Metrics.scrape(client, c.url());
        Sample sample = drive(client, c, progress);
        return summarize(c, List.of(sample), before, Metrics.scrape(client, c.url()));
    }

    /** The client side of a run: each request's timing and the wall time. */
    record Sample(RequestTiming[] timings, double wallSeconds) { }

    static HttpClient client() {
        return HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    }

    /** Step 2 alone. */
    static Sample drive(HttpClient client, Config c, PrintStream progress) {
        RequestTiming[] timings = new RequestTiming[c.requests()];
        AtomicInteger next = new AtomicInteger(), done = new AtomicInteger();
        long start = System.nanoTime();
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int w = 0; w < c.concurrency(); w++) {
                clients.submit(() -> {
                    for (int i = next.getAndIncrement(); i < c.requests(); i = next.getAndIncrement()) {
                        timings[i] = one(client, c, c.prompts().get(i % c.prompts().size()));
                        int n = done.incrementAndGet();
                        if (progress != null && (n % Math.max(1, c.requests() / 4) == 0)) {
                            double s = (System.nanoTime() - start) / 1e9;
                            progress.printf(Locale.ROOT, "  %d/%d requests, %.1f s, ETA %.0f s%n", n, c.requests(), s, s / n * (c.requests() - n));
                        }
                    }
                });
            }
        }
        return new Sample(timings, (System.nanoTime() - start) / 1e9);
    }

    /**
     * One result from the samples of one server (several when runs alternate between servers): the
     * requests of all samples together, throughput over the sum of their wall times, and the server's
     * counters from {@code before} the first sample to {@code after} the last.
     */
    static Result summarize(Config c, List<Sample> samples, Metrics before, Metrics after) {
        List<RequestTiming> all = new ArrayList<>();
        double wall = 0;
        for (Sample s : samples) {
            all.addAll(Arrays.asList(s.timings()));
            wall += s.wallSeconds();
        }
        int ok = 0;
        long tokens = 0;
        List<String> errors = new ArrayList<>();
        for (RequestTiming t : all) {
            if (t.error() == null) {
                ok++;
                tokens += t.outputTokens();
            } else if (errors.size() < 10) {
                errors.add(t.error());
            }
        }
        double[] ttft = all.stream().filter(t -> t.error() == null).mapToDouble(RequestTiming::ttft).toArray();
        double[] tpot = all.stream().filter(t -> t.error() == null).mapToDouble(RequestTiming::tpot).toArray();
        double[] lat = all.stream().filter(t -> t.error() == null).mapToDouble(RequestTiming::latency).toArray();
        return new Result(c.requests() * samples.size(), ok, all.size() - ok, tokens, wall, tokens / wall, ok / wall, Percentiles.of(ttft),
                Percentiles.of(tpot), Percentiles.of(lat), MoeLoad.between(before, after), errors);
    }

    /** One streaming request, timed. */
    private static RequestTiming one(HttpClient client, Config c, String prompt) {
        String body = JSON.createObjectNode().put("prompt", prompt).put("max_tokens", c.maxTokens())
                .put("temperature", c.temperature()).put("stream", true).put("ignore_eos", c.ignoreEos()).toString();
        HttpRequest req = HttpRequest.newBuilder(URI.create(c.url() + "/v1/completions")).timeout(Duration.ofMinutes(30))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
        long t0 = System.nanoTime(), first = -1, last = -1;
        int tokens = -1;
        StringBuilder text = new StringBuilder();
        try {
            HttpResponse<Stream<String>> r = client.send(req, HttpResponse.BodyHandlers.ofLines());
            if (r.statusCode() != 200) {
                return failed("HTTP " + r.statusCode() + ": " + String.join("\n", r.body().toList()));
            }
            try (Stream<String> lines = r.body()) {
                for (String line : (Iterable<String>) lines::iterator) {
                    if (!line.startsWith("data: ")) continue;
                    String data = line.substring(6);
                    if (data.equals("[DONE]")) break;
                    JsonNode chunk = JSON.readTree(data);
                    if (chunk.has("error")) return failed(chunk.get("error").path("message").asText());
                    long now = System.nanoTime();
                    if (first < 0) first = now;
                    last = now;
                    text.append(chunk.path("choices").path(0).path("text").asText(""));
                    if (chunk.has("usage")) tokens = chunk.get("usage").get("completion_tokens").intValue();
                }
            }
        } catch (IOException e) {
            return failed(e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return failed("interrupted");
        }
        if (first < 0 || tokens < 0) return failed("the stream ended without a final chunk with usage");
        double tpot = tokens > 1 ? (last - first) / 1e9 / (tokens - 1) : Double.NaN;
        return new RequestTiming((first - t0) / 1e9, tpot, (last - t0) / 1e9, tokens, text.toString(), null);
    }

    private static RequestTiming failed(String why) {
        return new RequestTiming(Double.NaN, Double.NaN, Double.NaN, 0, null, why);
    }

    /** A /metrics scrape: series text → value. */
    record Metrics(List<String> series, double[] values) {
        static Metrics scrape(HttpClient client, String url) {
            try {
                HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(url + "/metrics")).timeout(Duration.ofSeconds(30)).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() != 200) throw new IllegalArgumentException(url + "/metrics answered HTTP " + r.statusCode());
                List<String> names = new ArrayList<>();
                List<Double> vals = new ArrayList<>();
                for (String line : r.body().split("\n")) {
                    if (line.isEmpty() || line.startsWith("#")) continue;
                    int sp = line.lastIndexOf(' ');
                    names.add(line.substring(0, sp));
                    vals.add(Double.parseDouble(line.substring(sp + 1)));
                }
                return new Metrics(names, vals.stream().mapToDouble(Double::doubleValue).toArray());
            } catch (IOException e) {
                throw new IllegalArgumentException("cannot reach " + url + "/metrics (is `./capmoe serve` running there?): " + e, e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }

        /** Sum over the series of metric {@code name} whose labels contain every one of {@code labels}. */
        double sum(String name, String... labels) {
            double s = 0;
            for (int i = 0; i < series.size(); i++) {
                String x = series.get(i);
                if (!(x.equals(name) || x.startsWith(name + "{"))) continue;
                boolean all = true;
                for (String l : labels) all &= l.isEmpty() || x.contains(l);
                if (all) s += values[i];
            }
            return s;
        }
    }
}
