package capmoe.cli;

import capmoe.files.JsonFiles;
import capmoe.model.CausalLM;
import capmoe.model.Models;
import capmoe.model.RunOptions;
import capmoe.routing.GammaFit;
import capmoe.routing.Placement;
import capmoe.routing.Policy;
import capmoe.runtime.ExpertExecutor;
import capmoe.runtime.Experts;
import capmoe.runtime.LocalExpertExecutor;
import capmoe.runtime.ep.CommModel;
import capmoe.runtime.sim.CostModel;
import capmoe.runtime.sim.LayerGammas;
import capmoe.runtime.sim.SimulateJson;
import capmoe.runtime.sim.Simulator;
import capmoe.runtime.sim.Sweep;
import capmoe.runtime.sim.SweepReport;
import capmoe.runtime.trace.RoutingTrace;
import capmoe.runtime.trace.TraceReader;
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
                "Replays a routing trace (from ./capmoe ep-bench --trace FILE, recorded under policy none) at other "
                        + "device counts: for each D (contiguous placement, E/D experts per device) and each policy, re-applies "
                        + "the policy to the recorded top-k and prices each layer call with time(expert) = a + b*rows, summed "
                        + "over a device's active experts, the layer waiting for its slowest device (+ optional all-to-all). a "
                        + "and b come from timing this machine's grouped matmul (--model DIR: Experts.apply of the model's "
                        + "first MoE layer on a few row counts) or are given (--cost-a-us, --cost-b-us). Policies include "
                        + "replicate@N[+POLICY] (EPLB placement per layer from the trace's own loads). --fit-gamma RULE "
                        + "--write-gammas FILE: per-layer gamma for score@layers:FILE (RULE mass=EPS or maxmean=TARGET). "
                        + "--paper-sweep: the paper's speedup-vs-experts-per-device sweep over Mixtral, OLMoE, Qwen1.5-MoE and "
                        + "DeepSeek-V2-Lite shapes (synthetic skewed routing), with the paper's measured numbers; --html "
                        + "FIGURE.",
                ""})
public final class SimulateCommand implements Callable<Integer> {

    @Spec CommandSpec spec;

    @Option(names = "--trace", paramLabel = "FILE", description = "routing trace (required unless --paper-sweep)") Path trace;

    @Option(names = "--fit-gamma", paramLabel = "RULE",
            description = "fit one gamma per layer: mass=EPS (smallest gamma dropping <= EPS of the gate-score mass) or "
                    + "maxmean=TARGET (largest gamma with device max/mean <= TARGET, on the first --devices D)")
    String fitGamma;

    @Option(names = "--write-gammas", paramLabel = "FILE", description = "with --fit-gamma: the file for score@layers:FILE") Path writeGammas;
    @Option(names = "--gamma-step", description = "with --fit-gamma: grid step of gamma (default: ${DEFAULT-VALUE})") double gammaStep = 0.05;
    @Option(names = "--paper-sweep", description = "run the paper's sweep over model shapes (no --trace needed)") boolean paperSweep;
    @Option(names = "--sweep-tokens", description = "with --paper-sweep: tokens per layer call (default: ${DEFAULT-VALUE})") int sweepTokens = 4096;
    @Option(names = "--sweep-calls", description = "with --paper-sweep: layer calls per shape (default: ${DEFAULT-VALUE})") int sweepCalls = 8;
    @Option(names = "--html", paramLabel = "FILE", description = "with --paper-sweep: the figure (self-contained HTML)") Path html;

    @Option(names = "--measured", split = ",", paramLabel = "FILE",
            description = "with --paper-sweep: ep-bench JSON files (e.g. ep-bench --make-model --shape mixtral-8x7b --json F) whose "
                    + "measured speedups are drawn beside the simulated bars of the shape with their experts and top-k")
    List<Path> measured = new ArrayList<>();

    /** Calibrates the cost model on this model's experts. */
    @Mixin ModelOption modelOption;

    @Option(names = "--cost-a-us", description = "fixed cost per active expert, microseconds (instead of --model)") Double costA;
    @Option(names = "--cost-b-us", description = "cost per row, microseconds (instead of --model)") Double costB;

    @Option(names = "--policies", split = ",", paramLabel = "SPEC",
            description = "policies; none is always the baseline (default: none,score@1.0,score@1.5,expanded@1.5; with --paper-sweep: "
                    + "score@1.0,score@1.5,score@2.0,device@1.0,replicate@D,replicate@D+score@1.5, replicate@D = one replica per device)")
    List<String> policies;

    @Option(names = "--devices", split = ",", paramLabel = "D",
            description = "device counts (default: every D <= 64 dividing E with 1..8 experts per device)")
    List<Integer> devices = new ArrayList<>();

    @Option(names = "--link-gbps", description = "all-to-all term per device link, 0 = off (default: ${DEFAULT-VALUE})") double linkGbps = 0;
    @Option(names = "--hidden", description = "hidden size for the all-to-all term (default: the model's, else 2048)") Integer hidden;
    @Option(names = "--json", paramLabel = "FILE", description = "JSON output") Path json;

    /** Timed runs of each calibration point; the fit uses their median. */
    static final int CALIBRATION_REPEATS = 15;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        if (paperSweep) return sweep(out);
        if (trace == null) throw new IllegalArgumentException("give --trace FILE (or --paper-sweep)");
        RoutingTrace t = TraceReader.read(trace);
        if (fitGamma != null) return fit(out, t);
        int e = t.header().experts();
        CostModel cost;
        List<CostModel.Point> points = List.of();
        CostModel.Calibration calibration = null;
        int h = hidden != null ? hidden : 2048;
        Path model = modelOption.orElse(null);
        if (model != null) {
            if (costA != null || costB != null) throw new IllegalArgumentException("give --model DIR or --cost-a-us/--cost-b-us, not both");
            try (CausalLM lm = Models.load(model, null, modelOption.weights())) {
                // the cost model times this model's experts: they must be the trace's
                if (lm.config().numExperts() != e || lm.config().topK() != t.header().topK()) {
                    throw new IllegalArgumentException("--model " + model + " has " + lm.config().numExperts() + " experts, top-"
                            + lm.config().topK() + ", but the trace " + trace + " routes over " + e + " experts, top-"
                            + t.header().topK() + ": calibrate on the model that recorded the trace");
                }
                Experts experts = firstExperts(lm);
                if (hidden == null) h = experts.hidden();
                CostModel.Calibration c = CostModel.calibrate(experts, new int[]{1, 4, 16, 64, 256}, CALIBRATION_REPEATS);
                cost = c.model();
                points = c.points();
                calibration = c;
            }
        } else {
            if (costA == null || costB == null) throw new IllegalArgumentException("give --model DIR to calibrate, or both --cost-a-us and --cost-b-us");
            cost = new CostModel(costA * 1e-6, costB * 1e-6);
        }
        List<Policy> list = new ArrayList<>();
        list.add(new Policy.None());
        for (String p : policies != null ? policies : List.of("score@1.0", "score@1.5", "expanded@1.5")) {
            Policy policy = Policy.parse(p);
            if (!(policy instanceof Policy.None)) list.add(policy);
        }
        int[] ds = devices.isEmpty() ? Simulator.deviceCounts(e, 1, 8) : devices.stream().mapToInt(Integer::intValue).toArray();
        if (ds.length == 0) throw new IllegalArgumentException("no device count gives 1..8 experts per device for " + e + " experts; give --devices");
        Simulator sim = new Simulator(t, cost, new CommModel(linkGbps, 2), h);
        List<Simulator.Result> results = sim.run(list, ds);
        boolean replicas = results.stream().anyMatch(r -> r.extraSlots() > 0);

        out.printf(Locale.ROOT, "Trace %s: %d experts, top-%d, %d layer calls in %d batches (%s)%n", trace, e, t.header().topK(),
                t.records().size(), t.batches(), t.header().source());
        out.printf(Locale.ROOT, "Cost model: time(expert) = %.2f us + %.4f us x rows%s%n", cost.a() * 1e6, cost.b() * 1e6,
                model != null ? " (calibrated on " + model + ", expert 0 of the first MoE layer)" : " (given)");
        for (CostModel.Point p : points) {
            out.printf(Locale.ROOT, "  measured: %4d rows -> %.1f us (median of %d, range %.1f-%.1f), fit %.1f us (%+.1f%%)%n", p.rows(),
                    p.seconds() * 1e6, CALIBRATION_REPEATS, p.min() * 1e6, p.max() * 1e6, cost.expertSeconds(p.rows()) * 1e6,
                    100 * (cost.expertSeconds(p.rows()) / p.seconds() - 1));
        }
        if (calibration != null) {
            out.printf(Locale.ROOT, "  fit spread: largest |fit - median| = %.1f%% of the median%s%n", 100 * calibration.maxRelativeError(),
                    calibration.nonMonotonic() ? "; the medians are not monotonic in rows: timing noise on this machine, "
                            + "treat the simulated times as approximate (or pass --cost-a-us/--cost-b-us)" : "");
        }
        out.println("all-to-all: " + (linkGbps == 0 ? "off" : linkGbps + " Gbit/s per device, hidden " + h + ", bf16"));
        out.println();
        out.printf(Locale.ROOT, "%4s %11s %-16s %9s %7s %9s %14s %9s %7s%s%n", "D", "experts/dev", "policy", "dropped%", "added%",
                "max/mean", "layer (ms)", "speedup", "bound", replicas ? "  extra slots/device" : "");
        for (Simulator.Result r : results) {
            out.printf(Locale.ROOT, "%4d %11d %-16s %9.2f %7.2f %9.2f %14.3f %9.2f %7.2f%s%n", r.devices(), r.expertsPerDevice(), r.policy(),
                    100 * r.droppedFraction(), 100 * r.addedFraction(), r.maxOverMean(), 1e3 * r.seconds() / t.records().size(), r.speedup(), r.bound(),
                    replicas ? String.format(Locale.ROOT, "  %19d", r.extraSlots()) : "");
        }
        out.println("dropped% = top-k pairs removed / top-k pairs; added% = pairs kept outside the top-k (expanded's extra experts) / top-k pairs");
        if (replicas) out.println("replicate@N: EPLB placement per layer from this trace's own top-k loads (in-sample); extra slots x one expert's weights = extra memory per device");
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
            SimulateJson.writeTrace(json, trace.toString(), e, t.header().topK(), t.records().size(), cost, linkGbps, results);
            out.println("wrote " + json);
        }
        out.flush();
        return 0;
    }

    /** --fit-gamma: one gamma per layer of the trace, printed and written for score@layers:FILE. */
    private int fit(PrintWriter out, RoutingTrace t) {
        if (writeGammas == null) throw new IllegalArgumentException("--fit-gamma needs --write-gammas FILE");
        GammaFit.Rule rule = GammaFit.Rule.parse(fitGamma);
        int d = devices.isEmpty() ? 1 : devices.get(0);
        if (rule instanceof GammaFit.Rule.MaxMean && devices.isEmpty()) throw new IllegalArgumentException("--fit-gamma maxmean=... needs --devices D");
        Placement placement = Placement.contiguous(t.header().experts(), d);
        List<GammaFit.Choice> choices = LayerGammas.fit(t, placement, rule, gammaStep);
        out.printf(Locale.ROOT, "Trace %s: %d experts, top-%d, %d layer calls; rule %s on %d device(s), gamma grid step %s%n", trace,
                t.header().experts(), t.header().topK(), t.records().size(), rule.label(), d, gammaStep);
        for (GammaFit.Choice c : choices) out.println("  " + c.describe());
        LayerGammas.write(writeGammas, "per-layer gamma, rule " + rule.label() + ", " + d + " devices, from " + trace, choices);
        out.println("wrote " + writeGammas + "  (use it as --policies score@layers:" + writeGammas + ")");
        out.flush();
        return 0;
    }

    /** --paper-sweep: every paper shape at 1, 2, 4, 8 (and the paper's) experts per device. */
    private int sweep(PrintWriter out) throws IOException {
        if (trace != null) throw new IllegalArgumentException("--paper-sweep makes its own traces; leave out --trace");
        if (!devices.isEmpty()) throw new IllegalArgumentException("--paper-sweep sets each shape's device counts itself; leave out --devices");
        if (sweepTokens < 1 || sweepCalls < 1) throw new IllegalArgumentException("--sweep-tokens and --sweep-calls must be >= 1");
        CostModel cost;
        String costText;
        Path model = modelOption.orElse(null);
        if (model != null) {
            try (CausalLM lm = Models.load(model)) {
                cost = CostModel.calibrate(firstExperts(lm), new int[]{1, 4, 16, 64, 256}, 15).model();
            }
            costText = String.format(Locale.ROOT, "time(expert) = %.2f us + %.4f us x rows, calibrated on %s", cost.a() * 1e6, cost.b() * 1e6, model);
        } else if (costA != null || costB != null) {
            if (costA == null || costB == null) throw new IllegalArgumentException("give both --cost-a-us and --cost-b-us");
            cost = new CostModel(costA * 1e-6, costB * 1e-6);
            costText = String.format(Locale.ROOT, "time(expert) = %.2f us + %.4f us x rows (given)", costA, costB);
        } else {
            cost = new CostModel(0, 1e-6);
            costText = "time proportional to a device's (token, expert) pairs (no fixed cost per expert): simulated speedup = bound";
        }
        List<String> specs = policies != null ? policies : List.of("score@1.0", "score@1.5", "score@2.0", "device@1.0", "replicate@D", "replicate@D+score@1.5");
        List<Sweep.Cell> cells = new ArrayList<>();
        for (Sweep.Shape shape : Sweep.Shape.PAPER) {
            RoutingTrace t = Sweep.syntheticTrace(shape, sweepTokens, sweepCalls, 0);
            cells.addAll(Sweep.run(shape, t, specs, cost));
        }
        List<Sweep.Measured> points = new ArrayList<>();
        for (Path f : measured) points.addAll(Sweep.measured(JsonFiles.read(f), f.getFileName().toString()));
        out.printf(Locale.ROOT, "Paper sweep: synthetic skewed routing (RoutingSample, seeds 0-%d), %d calls x %d tokens per shape; %s%n",
                sweepCalls - 1, sweepCalls, sweepTokens, costText);
        out.println("replicate@D = one redundant replica per device (EPLB, in-sample); paper = the paper's measured MoE-layer speedup (8 GPUs)");
        out.println();
        out.printf(Locale.ROOT, "%-18s %7s %4s %-24s %9s %9s %8s %7s %6s %6s%n", "shape", "exp/dev", "D", "policy", "dropped%", "max/mean",
                "speedup", "bound", "extra", "paper");
        for (Sweep.Cell c : cells) {
            out.printf(Locale.ROOT, "%-18s %7d %4d %-24s %9.1f %9.2f %8.2f %7.2f %6d %6s%n", c.shape(), c.expertsPerDevice(), c.devices(),
                    c.policy(), 100 * c.droppedFraction(), c.maxOverMean(), c.speedup(), c.bound(), c.extraSlots(),
                    Double.isFinite(c.paper()) ? String.format(Locale.ROOT, "%.2f", c.paper()) : "");
        }
        if (!points.isEmpty()) {
            out.println();
            out.println("measured (ep-bench through the expert-parallel runtime, random-weight model of the shape, its own skewed router):");
            out.printf(Locale.ROOT, "%-18s %7s %4s %-24s %18s %7s  %s%n", "shape", "exp/dev", "D", "policy", "speedup (range)", "bound", "run");
            for (Sweep.Measured m : points) {
                out.printf(Locale.ROOT, "%-18s %7d %4d %-24s %18s %7.2f  %s%n", m.shape(), m.expertsPerDevice(), m.devices(), m.policy(),
                        String.format(Locale.ROOT, "%.2f (%.2f-%.2f)", m.speedup(), m.min(), m.max()), m.bound(), m.source());
            }
        }
        List<String> notes = new ArrayList<>(List.of(
                "Made by: ./capmoe simulate --paper-sweep --sweep-tokens " + sweepTokens + " --sweep-calls " + sweepCalls + " --html FILE"
                        + (measured.isEmpty() ? "" : " --measured " + String.join(",", measured.stream().map(Path::toString).toList())),
                "Routing: synthetic skewed router logits (capmoe.routing.RoutingSample: Pareto popularity + Gaussian noise, "
                        + "max/mean expert load like trained routers), top-k, " + sweepCalls + " calls of " + sweepTokens + " tokens per shape.",
                "Cost: " + costText + ". Speedup = simulated MoE-layer time under none / under the policy, same devices.",
                "replicate@D: one redundant replica per device placed by DeepSeek's EPLB from the same calls' loads (in-sample); "
                        + "a replicated expert's tokens alternate between its replicas by token index.",
                "Dashed outlines: the paper's measured MoE-layer speedups (8 GPUs, batch 8K x 512): Mixtral 1 expert/GPU, "
                        + "OLMoE 8/GPU, Qwen1.5-MoE 10/GPU, at score@2.0/1.5/1.0.",
                "DeepSeek-V2-Lite's 2 shared experts are priced: attention is data-parallel, so each device runs them on its own "
                        + "T/D tokens, the same work on every device under every policy (it pulls every speedup towards 1)."));
        if (!points.isEmpty()) {
            notes.add("Half-transparent bars: measured with ./capmoe ep-bench on a random-weight model of the shape (OLMoE architecture, "
                    + "the shape's experts and top-k, skewed router; hidden size and expert width as each run's JSON says), "
                    + "the median speedup over interleaved repeats; each has its own load bound in the table (its router is not the "
                    + "simulated sample's).");
        }
        if (html != null) {
            SweepReport.write(html, "Speedup vs experts per device (simulated" + (points.isEmpty() ? "" : "; measured where given") + ")",
                    notes, cells, points);
            out.println("wrote " + html);
        }
        if (json != null) {
            SimulateJson.writeSweep(json, sweepTokens, sweepCalls, costText, cells, points);
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
