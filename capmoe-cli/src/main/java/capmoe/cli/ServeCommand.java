package capmoe.cli;

import capmoe.routing.Policy;
import capmoe.serve.OpenAiServer;
import capmoe.serve.ServeOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code capmoe serve --model DIR [--policy score@1.5] [--decode-capacity on|off] [--port 8000] ...}:
 * parses the options and runs {@link OpenAiServer} until the process is stopped (Ctrl-C).
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "OpenAI-compatible HTTP server with continuous batching; the capacity policy applies to every batched step.")
public final class ServeCommand implements Callable<Integer> {

    @Mixin ModelOption model;

    /** One device by default: the experts run in this process's kernels, not through the EP runtime. */
    @Mixin DeviceOption devices = oneDevice();

    @Option(names = "--served-model-name", description = "model id clients send (default: the directory name)")
    String servedName;

    @Option(names = "--policy", defaultValue = "none", description = "capacity policy, e.g. none, score@1.5, device@1.0 (default: ${DEFAULT-VALUE})")
    String policy;

    @Option(names = "--decode-capacity", defaultValue = "on",
            description = "on: the policy applies to decode-only steps too; off: they run under none, as the official code "
                    + "does for one-token forwards (default: ${DEFAULT-VALUE})")
    String decodeCapacity;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "address to bind (default: ${DEFAULT-VALUE})")
    String host;

    @Option(names = "--port", defaultValue = "8000", description = "port (0 = any free one; default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--max-batch-tokens", defaultValue = "512", description = "tokens per step: decode tokens, then prefill chunks (default: ${DEFAULT-VALUE})")
    int maxBatchTokens;

    @Option(names = "--max-running", defaultValue = "16", description = "KV slots = sequences running at once (default: ${DEFAULT-VALUE})")
    int maxRunning;

    @Option(names = "--max-queue", defaultValue = "256", description = "requests waiting for a slot before 429 (default: ${DEFAULT-VALUE})")
    int maxQueue;

    @Option(names = "--max-context", defaultValue = "0", description = "positions per slot (0 = max_position_embeddings; default: ${DEFAULT-VALUE})")
    int maxContext;

    @Option(names = "--ep-mode", defaultValue = "parallel", description = "with --devices above 1 the experts run through the in-process EP runtime in this mode: parallel | timed-serial (default: ${DEFAULT-VALUE})")
    String epMode;

    static DeviceOption oneDevice() {
        DeviceOption d = new DeviceOption();
        d.devices = 1;
        return d;
    }

    static boolean onOff(String name, String value) {
        return switch (value) {
            case "on" -> true;
            case "off" -> false;
            default -> throw new IllegalArgumentException(name + " must be on or off, got '" + value + "'");
        };
    }

    @Override
    public Integer call() throws InterruptedException {
        ServeOptions o = new ServeOptions(model.require(), servedName, Policy.parse(policy), onOff("--decode-capacity", decodeCapacity),
                host, port, maxBatchTokens, maxRunning, maxQueue, maxContext, devices.devices, epMode);
        OpenAiServer server = OpenAiServer.start(o);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }));
        System.err.printf("capmoe serve: %s on %s (policy %s, decode capacity %s, %d slots x %d positions, %s chat template); Ctrl-C stops%n",
                o.servedName(), server.url(), o.policy().label(), decodeCapacity, o.maxRunning(), server.maxContext(),
                server.hasChatTemplate() ? "the checkpoint's" : "no: plain");
        stopped.await();
        return 0;
    }
}
