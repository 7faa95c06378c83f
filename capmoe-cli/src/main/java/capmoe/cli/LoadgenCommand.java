package capmoe.cli;

import capmoe.routing.Policy;
import capmoe.serve.LoadGen;
import capmoe.serve.ServeComparison;
import capmoe.serve.ServeOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code capmoe loadgen --url URL ...} measures a running server ({@link LoadGen});
 * {@code capmoe loadgen --model DIR --policies none,score@1.5 ...} runs the same workload against one
 * in-process server per policy and writes one HTML report ({@link ServeComparison}).
 */
@Command(name = "loadgen", mixinStandardHelpOptions = true,
        description = "Load generator: throughput and p50/p95/p99 TTFT and TPOT; with --model and --policies, one server per policy and an HTML report.")
public final class LoadgenCommand implements Callable<Integer> {

    @Option(names = "--url", description = "a running server, e.g. http://127.0.0.1:8000") String url;

    /** Instead of --url: start a server per --policies policy on this checkpoint. */
    @Mixin ModelOption model;

    /** With --model: the policies to compare (none first); no default, so the option is loadgen's own rather than the PolicyOption mixin. */
    @Option(names = "--policies", split = ",", paramLabel = "SPEC", description = PolicyOption.SPECS + "; with --model, required")
    List<String> policies = new ArrayList<>();

    /** With --model: expert placement for the load counters; D > 1 runs the in-process EP runtime. */
    @Mixin DeviceOption devices = ServeCommand.oneDevice();

    @Option(names = "--prompt-file", required = true, description = "prompts, one per non-empty line, used in order and cycled") Path promptFile;
    @Option(names = "--concurrency", defaultValue = "16", description = "clients sending at once (default: ${DEFAULT-VALUE})") int concurrency;
    @Option(names = "--requests", defaultValue = "64", description = "requests in all (default: ${DEFAULT-VALUE})") int requests;

    @Mixin SamplingOptions sampling = new SamplingOptions(128);

    @Option(names = "--stop-at-eos", description = "let requests end at eos (default: ignore_eos, so every request makes --max-tokens)")
    boolean stopAtEos;

    @Option(names = "--rounds", defaultValue = "4",
            description = "with --model: alternate between the policies' servers in this many rounds of requests/rounds each (default: ${DEFAULT-VALUE})")
    int rounds;

    /** With --model: the report. */
    @Mixin ReportOptions report = new ReportOptions("loadgen");

    /** With --model: the servers' scheduler. */
    @Mixin ServerOptions server = new ServerOptions();

    @Override
    public Integer call() {
        if ((url == null) == !model.given()) throw new IllegalArgumentException("give either --url URL (a running server) or --model DIR --policies ...");
        List<String> prompts = LoadGen.readPrompts(promptFile);
        if (url != null) {
            if (!policies.isEmpty()) throw new IllegalArgumentException("--policies needs --model (loadgen then starts the servers itself)");
            LoadGen.Result r = LoadGen.run(new LoadGen.Config(url, concurrency, requests, prompts, sampling.maxTokens(), sampling.temperature,
                    !stopAtEos), report.progress());
            System.out.println(r.summary(url));
            for (String e : r.errors()) System.out.println("  error: " + e);
            return r.failed() == 0 ? 0 : 1;
        }
        if (policies.isEmpty()) throw new IllegalArgumentException("--model needs --policies, e.g. none,score@1.5,score@1.0");
        List<Policy> parsed = Policy.withBaseline(policies);
        ServeOptions base = ServeOptions.defaults(model.require()).withPolicy(new Policy.None(), server.decodeCapacity())
                .withSlots(server.maxRunning, server.maxBatchTokens, Math.max(256, requests)).withDevices(devices.devices, server.epMode)
                .withWeights(model.weights());
        LoadGen.Config workload = new LoadGen.Config("http://unused", concurrency, requests, prompts, sampling.maxTokens(), sampling.temperature,
                !stopAtEos);
        List<ServeComparison.Run> runs = ServeComparison.run(base, parsed, workload, rounds, report.progress());
        Path out = report.out;
        ServeComparison.write(out, base, workload, runs);
        for (ServeComparison.Run r : runs) {
            System.out.println(r.result().summary(r.policy()) + String.format(java.util.Locale.ROOT,
                    ", texts identical to %s %.0f%%, common prefix %.0f%%", runs.getFirst().policy(),
                    100 * r.identicalToBaseline(), 100 * r.prefixAgreement()));
        }
        System.out.println("report: " + out.resolve("report.html") + ", " + out.resolve("loadgen.json"));
        return runs.stream().allMatch(r -> r.result().failed() == 0) ? 0 : 1;
    }
}
