package capmoe.runtime.sim;

import capmoe.routing.Policy;
import capmoe.routing.Router;
import capmoe.routing.RouterConfig;
import capmoe.routing.RoutingSample;
import capmoe.runtime.ep.CommModel;
import capmoe.runtime.trace.RoutingTrace;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * The paper's sweep: MoE-layer speedup against experts per device, for the MoE shapes the paper
 * measured, from the {@link Simulator}. Steps of {@link #run}:
 * <ol>
 *   <li>for each {@link Shape}, a routing trace of {@code calls} calls of {@code tokens} tokens:
 *       seeded skewed router logits ({@link RoutingSample#skewed}, a few popular experts, like a
 *       trained router), routed top-k under {@code none}, one call per "layer" (each its own
 *       popularity draw), or a recorded trace when one is given for the shape;</li>
 *   <li>experts per device n in {1, 2, 4, 8} and the paper's own (Qwen1.5-MoE: 10) that divide E;
 *       D = E/n devices, contiguous placement;</li>
 *   <li>every policy simulated at every D; in a policy spec, {@code replicate@D} means one
 *       redundant replica per device ({@code replicate@<D>}).</li>
 * </ol>
 * Shared experts (DeepSeek-V2-Lite: 2, each as wide as a routed expert) are priced with the
 * {@link Simulator}'s model: attention is data-parallel, each device runs them on its own T/D
 * tokens, the same work on every device under every policy. They never change which device is
 * the straggler but add the same time to all, so every speedup (and bound) moves towards 1.
 */
public final class Sweep {
    private Sweep() { }

    /**
     * A model's MoE shape and the paper's measured MoE-layer speedups (8 GPUs, batch 8K x 512
     * tokens) at γ = 2.0, 1.5, 1.0 for Token Drop by score, at {@code paperExpertsPerDevice}.
     *
     * @param paperSpeedups null when the paper gives none for this shape
     */
    public record Shape(String name, int experts, int topK, int sharedExperts, int paperExpertsPerDevice, double[] paperSpeedups) {
        public static final List<Shape> PAPER = List.of(
                new Shape("Mixtral-8x7B", 8, 2, 0, 1, new double[] {1.44, 1.89, 2.55}),
                new Shape("OLMoE-1B-7B", 64, 8, 0, 8, new double[] {1.21, 1.30, 1.46}),
                new Shape("Qwen1.5-MoE-A2.7B", 60, 4, 0, 10, new double[] {1.10, 1.13, 1.18}),
                new Shape("DeepSeek-V2-Lite", 64, 6, 2, 0, null));

        /** The paper's γ of {@link #paperSpeedups} in order. */
        public static final double[] PAPER_GAMMAS = {2.0, 1.5, 1.0};

        /** The paper's speedup for {@code score@γ} at n experts per device, or NaN. */
        public double paper(String policy, int expertsPerDevice) {
            if (paperSpeedups == null || expertsPerDevice != paperExpertsPerDevice || !policy.startsWith("score@")) return Double.NaN;
            for (int i = 0; i < PAPER_GAMMAS.length; i++) {
                if (Policy.parse("score@" + PAPER_GAMMAS[i]).equals(Policy.parse(policy))) return paperSpeedups[i];
            }
            return Double.NaN;
        }

        /** Experts per device to sweep: 1, 2, 4, 8 and the paper's, those dividing E, ascending. */
        public int[] expertsPerDevice() {
            TreeSet<Integer> n = new TreeSet<>();
            for (int v : new int[] {1, 2, 4, 8, paperExpertsPerDevice}) if (v >= 1 && experts % v == 0) n.add(v);
            return n.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    /**
     * A measured bar beside the simulated ones: {@code ep-bench}'s median speedup over none (and its
     * range over the interleaved repeats) and its load bound, on a model of the shape (its experts
     * and top-k) run through the expert-parallel runtime at D devices.
     */
    public record Measured(String shape, int expertsPerDevice, int devices, String policy, double speedup, double min, double max,
                           double bound, String source) { }

    /**
     * The policies of an {@code ep-bench} JSON ({@link capmoe.runtime.ep.EpBenchJson}) as measured
     * bars of the sweep shape with the same experts and top-k; {@code replicate@<D>} becomes
     * {@code replicate@D} (one replica per device, the sweep's name); the uniform row is left out.
     */
    public static List<Measured> measured(com.fasterxml.jackson.databind.JsonNode epBench, String source) {
        int experts = epBench.path("experts").asInt(-1), topK = epBench.path("topK").asInt(-1), d = epBench.path("devices").asInt(-1);
        if (experts < 1 || topK < 1 || d < 1 || !epBench.path("policies").isArray()) {
            throw new IllegalArgumentException(source + ": not an ep-bench JSON with experts, topK, devices and policies");
        }
        Shape shape = null;
        for (Shape s : Shape.PAPER) if (s.experts() == experts && s.topK() == topK) shape = s;
        if (shape == null) {
            throw new IllegalArgumentException(source + ": " + experts + " experts top-" + topK + " is none of the sweep's shapes "
                    + Shape.PAPER.stream().map(s -> s.name() + " " + s.experts() + " top-" + s.topK()).toList());
        }
        if (experts % d != 0) throw new IllegalArgumentException(source + ": " + d + " devices do not divide " + experts + " experts");
        List<Measured> out = new ArrayList<>();
        for (com.fasterxml.jackson.databind.JsonNode p : epBench.get("policies")) {
            String label = p.path("policy").asText();
            if (label.equals(capmoe.runtime.ep.EpBench.UNIFORM) || label.equals("none")) continue;
            String name = label.replaceFirst("^replicate@" + d + "(?![0-9])", "replicate@D");
            out.add(new Measured(shape.name(), experts / d, d, name, p.path("speedupVsNone").asDouble(), p.path("speedupMin").asDouble(),
                    p.path("speedupMax").asDouble(), p.path("bound").asDouble(), source));
        }
        return out;
    }

    /** One bar of the figure: a shape at n experts per device under one policy. */
    public record Cell(String shape, int experts, int topK, int devices, int expertsPerDevice, String policy,
                       double droppedFraction, double maxOverMean, double speedup, double bound, int extraSlots, double paper) { }

    /**
     * A synthetic trace for a shape: {@code calls} calls ("layers" 0..calls-1) of {@code tokens}
     * tokens, skewed logits with seed {@code seed + call}, plain top-k (softmax, no renormalisation).
     */
    public static RoutingTrace syntheticTrace(Shape shape, int tokens, int calls, long seed) {
        RouterConfig config = RouterConfig.softmax(shape.experts(), shape.topK(), false);
        List<RoutingTrace.Record> records = new ArrayList<>();
        for (int c = 0; c < calls; c++) {
            float[] logits = RoutingSample.skewed(tokens, shape.experts(), seed + c).logits();
            records.add(new RoutingTrace.Record(0, c, new Router(config, new Policy.None(), null).route(logits, tokens)));
        }
        return new RoutingTrace(new RoutingTrace.Header(shape.experts(), shape.topK(), false, "none",
                "synthetic skewed routing, " + calls + " calls x " + tokens + " tokens, seed " + seed), records);
    }

    /**
     * Simulates every policy at every experts-per-device point of the shape.
     *
     * @param policies specs; {@code replicate@D} stands for one redundant replica per device
     */
    public static List<Cell> run(Shape shape, RoutingTrace trace, List<String> policies, CostModel cost) {
        if (trace.header().experts() != shape.experts() || trace.header().topK() != shape.topK()) {
            throw new IllegalArgumentException("the trace for " + shape.name() + " has " + trace.header().experts() + " experts top-"
                    + trace.header().topK() + ", the shape " + shape.experts() + " top-" + shape.topK());
        }
        Simulator sim = new Simulator(trace, cost, new CommModel(0, 2), 1, shape.sharedExperts());
        List<Cell> out = new ArrayList<>();
        for (int n : shape.expertsPerDevice()) {
            int d = shape.experts() / n;
            List<Policy> list = new ArrayList<>();
            list.add(new Policy.None());
            for (String spec : policies) {
                Policy p = Policy.parse(spec.replace("replicate@D", "replicate@" + d));
                if (!(p instanceof Policy.None)) list.add(p);
            }
            List<Simulator.Result> results = sim.run(list, new int[] {d});
            for (int i = 0; i < results.size(); i++) {
                Simulator.Result r = results.get(i);
                String label = i == 0 ? "none" : policies.get(policyIndex(policies, i));
                out.add(new Cell(shape.name(), shape.experts(), shape.topK(), d, n, label, r.droppedFraction(), r.maxOverMean(),
                        r.speedup(), r.bound(), r.extraSlots(), shape.paper(label, n)));
            }
        }
        return out;
    }

    /** The spec index of result i (result 0 is none; specs equal to none are skipped). */
    private static int policyIndex(List<String> policies, int i) {
        int seen = 0;
        for (int j = 0; j < policies.size(); j++) {
            if (Policy.parse(policies.get(j).replace("replicate@D", "replicate@1")) instanceof Policy.None) continue;
            if (++seen == i) return j;
        }
        throw new AssertionError(i);
    }
}
