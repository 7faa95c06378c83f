package capmoe.serve;

import capmoe.routing.Routing;
import capmoe.routing.RoutingStats;
import capmoe.runtime.RoutingListener;
import capmoe.runtime.ep.DeviceExpertExecutor;
import capmoe.runtime.ep.LayerTiming;

import java.util.Locale;

/**
 * The server's counters, in Prometheus' text exposition format (version 0.0.4) for {@code GET /metrics}.
 * Requests, tokens, time to first token and time per output token histograms, running/waiting
 * requests, KV slot use; and per MoE layer and step phase ({@code prefill}, {@code mixed},
 * {@code decode}) the routing of every step: calls, routed (top-k) and kept pairs, dropped pairs,
 * and the sums over calls of the busiest expert's and busiest device's load before and after the
 * policy. A dashboard's "max/mean expert load" is
 * {@code rate(capmoe_moe_expert_load_max_total) / (rate(capmoe_moe_pairs_total) / capmoe_moe_experts)};
 * the EP bound is {@code device_load_max{stage="routed"} / device_load_max{stage="kept"}}, as
 * {@link capmoe.routing.LoadSummary#speedupBound()} sums it. With the expert-parallel runtime
 * ({@code --devices} above 1) also the MoE layers' measured EP time per phase: the critical path
 * (the slowest device, {@link LayerTiming#criticalPathNanos()}) and the wall time. All methods are thread-safe.
 */
public final class ServeMetrics implements RoutingListener, DeviceExpertExecutor.Observer {

    /** Which tokens a step held. */
    public enum Phase {
        PREFILL, MIXED, DECODE;

        String label() { return name().toLowerCase(Locale.ROOT); }
    }

    private static final double[] LATENCY_BUCKETS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3,
            0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 20, 40, 80};
    private static final String[] FINISH = {"stop", "length", "cancelled", "error"};

    private final int layers, experts, devices, slots, contextPerSlot;
    private final long[] finished = new long[FINISH.length];
    private long promptTokens, generationTokens;
    private final long[] steps = new long[3], stepTokens = new long[3];
    private final double[] stepSeconds = new double[3], epCriticalSeconds = new double[3], epWallSeconds = new double[3];
    private final Histogram ttft = new Histogram(LATENCY_BUCKETS), tpot = new Histogram(LATENCY_BUCKETS),
            e2e = new Histogram(LATENCY_BUCKETS);
    private int running, waiting, kvTokens;
    // [layer][phase]
    private final long[][] calls, routedPairs, keptPairs, dropped, expertMaxRouted, expertMaxKept, deviceMaxRouted, deviceMaxKept;
    private volatile Phase phase = Phase.PREFILL;

    /**
     * @param layers MoE layer count is not known up front (dense layers exist); the decoder layer count
     *               bounds the layer index
     */
    public ServeMetrics(int layers, int experts, int devices, int slots, int contextPerSlot) {
        this.layers = layers;
        this.experts = experts;
        this.devices = devices;
        this.slots = slots;
        this.contextPerSlot = contextPerSlot;
        calls = new long[layers][3];
        routedPairs = new long[layers][3];
        keptPairs = new long[layers][3];
        dropped = new long[layers][3];
        expertMaxRouted = new long[layers][3];
        expertMaxKept = new long[layers][3];
        deviceMaxRouted = new long[layers][3];
        deviceMaxKept = new long[layers][3];
    }

    /** The phase the routing calls that follow belong to (the scheduler sets it before each step). */
    void phase(Phase p) { phase = p; }

    @Override
    public synchronized void onRouting(int layer, Routing routing) {
        int p = phase.ordinal();
        RoutingStats s = routing.stats();
        calls[layer][p]++;
        routedPairs[layer][p] += s.pairsBefore();
        keptPairs[layer][p] += s.pairsAfter();
        dropped[layer][p] += s.droppedPairs();
        expertMaxRouted[layer][p] += s.maxExpertLoadBefore();
        expertMaxKept[layer][p] += s.maxExpertLoadAfter();
        deviceMaxRouted[layer][p] += s.maxDeviceLoadBefore();
        deviceMaxKept[layer][p] += s.maxDeviceLoadAfter();
    }

    @Override
    public synchronized void onLayer(Routing routing, LayerTiming timing) {
        epCriticalSeconds[phase.ordinal()] += timing.criticalPathNanos() / 1e9;
        epWallSeconds[phase.ordinal()] += timing.wallNanos() / 1e9;
    }

    synchronized void step(Phase p, int tokens, double seconds) {
        steps[p.ordinal()]++;
        stepTokens[p.ordinal()] += tokens;
        stepSeconds[p.ordinal()] += seconds;
    }

    synchronized void queue(int runningNow, int waitingNow, int kvTokensNow) {
        running = runningNow;
        waiting = waitingNow;
        kvTokens = kvTokensNow;
    }

    synchronized void firstToken(double seconds) { ttft.observe(seconds); }

    /** A request ended; {@code reason} is stop, length, cancelled or error. */
    synchronized void finished(String reason, int prompt, int generated, double firstToLast, double total) {
        for (int i = 0; i < FINISH.length; i++) if (FINISH[i].equals(reason)) finished[i]++;
        promptTokens += prompt;
        generationTokens += generated;
        if (generated > 1) tpot.observe(firstToLast / (generated - 1));
        e2e.observe(total);
    }

    /** The exposition text. */
    public synchronized String scrape() {
        StringBuilder b = new StringBuilder(16384);
        header(b, "capmoe_requests_total", "counter", "Requests that ended, by finish reason");
        for (int i = 0; i < FINISH.length; i++) line(b, "capmoe_requests_total{finish=\"" + FINISH[i] + "\"}", finished[i]);
        header(b, "capmoe_prompt_tokens_total", "counter", "Prompt tokens of ended requests");
        line(b, "capmoe_prompt_tokens_total", promptTokens);
        header(b, "capmoe_generation_tokens_total", "counter", "Generated tokens of ended requests");
        line(b, "capmoe_generation_tokens_total", generationTokens);
        header(b, "capmoe_requests_running", "gauge", "Requests holding a KV slot");
        line(b, "capmoe_requests_running", running);
        header(b, "capmoe_requests_waiting", "gauge", "Requests queued for a KV slot");
        line(b, "capmoe_requests_waiting", waiting);
        header(b, "capmoe_kv_slots", "gauge", "KV slots (sequences that can run at once)");
        line(b, "capmoe_kv_slots", slots);
        header(b, "capmoe_kv_tokens_used", "gauge", "Positions held in the KV cache over all slots");
        line(b, "capmoe_kv_tokens_used", kvTokens);
        header(b, "capmoe_kv_tokens_capacity", "gauge", "Positions the KV slots can hold (slots x context)");
        line(b, "capmoe_kv_tokens_capacity", (long) slots * contextPerSlot);
        header(b, "capmoe_steps_total", "counter", "Batched model steps by phase");
        for (Phase p : Phase.values()) line(b, "capmoe_steps_total{phase=\"" + p.label() + "\"}", steps[p.ordinal()]);
        header(b, "capmoe_step_tokens_total", "counter", "Tokens put through the model by phase");
        for (Phase p : Phase.values()) line(b, "capmoe_step_tokens_total{phase=\"" + p.label() + "\"}", stepTokens[p.ordinal()]);
        header(b, "capmoe_step_seconds_total", "counter", "Wall time of model steps by phase");
        for (Phase p : Phase.values()) line(b, "capmoe_step_seconds_total{phase=\"" + p.label() + "\"}", stepSeconds[p.ordinal()]);
        header(b, "capmoe_ep_moe_seconds_total", "counter",
                "MoE layers under the EP runtime by phase: critical path (slowest device) and wall time (0 without --devices > 1)");
        for (Phase p : Phase.values()) {
            line(b, "capmoe_ep_moe_seconds_total{phase=\"" + p.label() + "\",kind=\"critical_path\"}", epCriticalSeconds[p.ordinal()]);
            line(b, "capmoe_ep_moe_seconds_total{phase=\"" + p.label() + "\",kind=\"wall\"}", epWallSeconds[p.ordinal()]);
        }
        ttft.write(b, "capmoe_time_to_first_token_seconds", "Time from arrival to the first generated token");
        tpot.write(b, "capmoe_time_per_output_token_seconds", "Per request: (last token - first token) / (tokens - 1)");
        e2e.write(b, "capmoe_request_seconds", "Time from arrival to the end of generation");
        header(b, "capmoe_moe_experts", "gauge", "Routed experts per MoE layer");
        line(b, "capmoe_moe_experts", experts);
        header(b, "capmoe_moe_devices", "gauge", "Devices the experts are placed on (contiguous)");
        line(b, "capmoe_moe_devices", devices);
        moe(b, "capmoe_moe_calls_total", "Routing calls (one per MoE layer per step)", calls, null);
        moe(b, "capmoe_moe_pairs_total", "(token, expert) pairs: routed = plain top-k, kept = after the policy", routedPairs, keptPairs);
        moe(b, "capmoe_moe_dropped_pairs_total", "Top-k pairs the capacity policy dropped", dropped, null);
        moe(b, "capmoe_moe_expert_load_max_total", "Sum over calls of the busiest expert's pairs", expertMaxRouted, expertMaxKept);
        moe(b, "capmoe_moe_device_load_max_total", "Sum over calls of the busiest device's pairs", deviceMaxRouted, deviceMaxKept);
        return b.toString();
    }

    private void moe(StringBuilder b, String name, String help, long[][] routed, long[][] kept) {
        header(b, name, "counter", help);
        for (int l = 0; l < layers; l++) {
            if (calls[l][0] + calls[l][1] + calls[l][2] == 0) continue; // not a MoE layer, or not run yet
            for (Phase p : Phase.values()) {
                String labels = "layer=\"" + l + "\",phase=\"" + p.label() + "\"";
                if (kept == null) {
                    line(b, name + "{" + labels + "}", routed[l][p.ordinal()]);
                } else {
                    line(b, name + "{" + labels + ",stage=\"routed\"}", routed[l][p.ordinal()]);
                    line(b, name + "{" + labels + ",stage=\"kept\"}", kept[l][p.ordinal()]);
                }
            }
        }
    }

    private static void header(StringBuilder b, String name, String type, String help) {
        b.append("# HELP ").append(name).append(' ').append(help).append('\n');
        b.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private static void line(StringBuilder b, String series, double value) {
        b.append(series).append(' ').append(number(value)).append('\n');
    }

    static String number(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        return Double.toString(v);
    }

    /** A cumulative histogram over fixed upper bounds. */
    private static final class Histogram {
        private final double[] bounds;
        private final long[] counts;
        private long count;
        private double sum;

        Histogram(double[] bounds) {
            this.bounds = bounds;
            this.counts = new long[bounds.length];
        }

        void observe(double v) {
            for (int i = 0; i < bounds.length; i++) if (v <= bounds[i]) counts[i]++;
            count++;
            sum += v;
        }

        void write(StringBuilder b, String name, String help) {
            header(b, name, "histogram", help);
            for (int i = 0; i < bounds.length; i++) line(b, name + "_bucket{le=\"" + bounds[i] + "\"}", counts[i]);
            line(b, name + "_bucket{le=\"+Inf\"}", count);
            line(b, name + "_sum", sum);
            line(b, name + "_count", count);
        }
    }
}
