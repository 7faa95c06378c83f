package capmoe.cli;

import capmoe.model.CausalLM;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.Policy;
import capmoe.runtime.ExpertExecutor;
import capmoe.runtime.Experts;
import capmoe.runtime.LocalExpertExecutor;
import capmoe.runtime.ep.CommModel;
import capmoe.runtime.sim.CostModel;
import capmoe.runtime.sim.Simulator;
import capmoe.runtime.trace.RoutingTrace;
import capmoe.runtime.trace.TraceReader;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code ./capmoe simulate}: replays a routing trace at other expert-parallel scales. */
@Command(name = "simulate", mixinStandardHelpOptions = true,
        description = {
                "Replays a routing trace (from ./capmoe ep-bench --trace FILE, recorded under policy none) at other",
                "device counts: for each D (contiguous placement, E/D experts per device) and each policy, re-applies",
                "the policy to the recorded top-k and prices each layer call with time(expert) = a + b*rows, summed",
                "over a device's active experts, the layer waiting for its slowest device (+ optional all-to-all).",
                "a and b come from timing this machine's grouped matmul (--model DIR: Experts.apply of the model's",
                "first MoE layer on a few row counts) or are given (--cost-a-us, --cost-b-us).",
                ""})
public final class SimulateCommand implements Callable<Integer> {

    @Mixin
    QuantizeOption quantize = new QuantizeOption();

    @Spec CommandSpec spec;

    @Option(names = "--trace", required = true, paramLabel = "FILE", description = "routing trace")
    Path trace;

    @Option(names = "--model", paramLabel = "DIR", description = "calibrate the cost model on this model's experts")
    Path model;

    @Option(names = "--cost-a-us", description = "fixed cost per active expert, microseconds (instead of --model)")
    Double costA;

    @Option(names = "--cost-b-us", description = "cost per row, microseconds (instead of --model)")
    Double costB;

    @Option(names = "--policies", split = ",", paramLabel = "SPEC",
            description = "policies; none is always the baseline (default: ${DEFAULT-VALUE})")
    List<String> policies = new ArrayList<>(List.of("none", "score@1.0", "score@1.5", "expanded@1.5"));

    @Option(names = "--devices", split = ",", paramLabel = "D",
            description = "device counts (default: every D <= 64 dividing E with 1..8 experts per device)")
    List<Integer> devices = new ArrayList<>();

    @Option(names = "--link-gbps", description = "all-to-all term per device link, 0 = off (default: ${DEFAULT-VALUE})")
    double linkGbps = 0;

    @Option(names = "--hidden", description = "hidden size for the all-to-all term (default: the model's, else 2048)")
    Integer hidden;

    @Option(names = "--json", paramLabel = "FILE", description = "JSON output")
    Path json;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        RoutingTrace t = TraceReader.read(trace);
        int e = t.header().experts();
        CostModel cost;
        List<CostModel.Point> points = List.of();
        int h = hidden != null ? hidden : 2048;
        if (model != null) {
            if (costA != null || costB != null) throw new IllegalArgumentException("give --model DIR or --cost-a-us/--cost-b-us, not both");
            try (CausalLM lm = Models.load(model, null, quantize.format())) {
                Experts experts = firstExperts(lm);
                if (hidden == null) h = experts.hidden();
                CostModel.Calibration c = CostModel.calibrate(experts, new int[]{1, 4, 16, 64, 256}, 15);
                cost = c.model();
                points = c.points();
            }
        } else {
            if (costA == null || costB == null) throw new IllegalArgumentException("give --model DIR to calibrate, or both --cost-a-us and --cost-b-us");
            cost = new CostModel(costA * 1e-6, costB * 1e-6);
        }
        List<Policy> list = new ArrayList<>();
        list.add(new Policy.None());
        for (String p : policies) {
            Policy policy = Policy.parse(p);
            if (!(policy instanceof Policy.None)) list.add(policy);
        }
        int[] ds = devices.isEmpty() ? Simulator.deviceCounts(e, 1, 8) : devices.stream().mapToInt(Integer::intValue).toArray();
        if (ds.length == 0) throw new IllegalArgumentException("no device count gives 1..8 experts per device for " + e + " experts; give --devices");
        Simulator sim = new Simulator(t, cost, new CommModel(linkGbps, 2), h);
        List<Simulator.Result> results = sim.run(list, ds);

        out.printf(Locale.ROOT, "Trace %s: %d experts, top-%d, %d layer calls in %d batches (%s)%n", trace, e, t.header().topK(),
                t.records().size(), t.batches(), t.header().source());
        out.printf(Locale.ROOT, "Cost model: time(expert) = %.2f us + %.4f us x rows%s%n", cost.a() * 1e6, cost.b() * 1e6,
                model != null ? " (calibrated on " + model + ", expert 0 of the first MoE layer)" : " (given)");
        for (CostModel.Point p : points) out.printf(Locale.ROOT, "  measured: %4d rows -> %.1f us%n", p.rows(), p.seconds() * 1e6);
        out.println("all-to-all: " + (linkGbps == 0 ? "off" : linkGbps + " Gbit/s per device, hidden " + h + ", bf16"));
        out.println();
        out.printf(Locale.ROOT, "%4s %11s %-16s %9s %9s %14s %9s %7s%n", "D", "experts/dev", "policy", "dropped%", "max/mean",
                "layer (ms)", "speedup", "bound");
        for (Simulator.Result r : results) {
            out.printf(Locale.ROOT, "%4d %11d %-16s %9.2f %9.2f %14.3f %9.2f %7.2f%n", r.devices(), r.expertsPerDevice(), r.policy(),
                    100 * r.droppedFraction(), r.maxOverMean(), 1e3 * r.seconds() / t.records().size(), r.speedup(), r.bound());
        }
        out.println();
        out.println("Speedup vs experts per device:");
        for (Policy p : list) {
            if (p instanceof Policy.None) continue;
            StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "  %-16s", p.label()));
            for (Simulator.Result r : results) {
                if (r.policy().equals(p.label())) line.append(String.format(Locale.ROOT, "  %d/dev: %.2fx", r.expertsPerDevice(), r.speedup()));
            }
            out.println(line);
        }
        if (json != null) {
            ObjectMapper m = new ObjectMapper();
            ObjectNode root = m.createObjectNode();
            root.put("trace", trace.toString());
            root.put("experts", e);
            root.put("topK", t.header().topK());
            root.put("layerCalls", t.records().size());
            root.put("costA", cost.a());
            root.put("costB", cost.b());
            root.put("linkGbps", linkGbps);
            ArrayNode rs = root.putArray("results");
            for (Simulator.Result r : results) {
                ObjectNode o = rs.addObject();
                o.put("devices", r.devices());
                o.put("expertsPerDevice", r.expertsPerDevice());
                o.put("policy", r.policy());
                o.put("droppedFraction", r.droppedFraction());
                o.put("maxOverMean", r.maxOverMean());
                o.put("seconds", r.seconds());
                o.put("speedup", r.speedup());
                o.put("bound", r.bound());
            }
            m.writerWithDefaultPrettyPrinter().writeValue(json.toFile(), root);
            out.println("wrote " + json);
        }
        out.flush();
        return 0;
    }

    /** The experts of the model's first MoE layer, caught as the engine hands them to its executor. */
    static Experts firstExperts(CausalLM lm) {
        Experts[] seen = new Experts[1];
        ExpertExecutor catcher = (layer, experts, x, routing, o) -> {
            if (seen[0] == null) seen[0] = experts;
            new LocalExpertExecutor().run(layer, experts, x, routing, o);
        };
        lm.forward(new int[][]{{1, 2, 3, 4}}, RunOptions.defaults().withExecutor(catcher));
        if (seen[0] == null) throw new IllegalArgumentException("the model ran no MoE layer; nothing to calibrate");
        return seen[0];
    }
}
