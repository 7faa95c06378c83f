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

    @Option(names = "--served-model-name", description = "model id clients send (default: the directory name)") String servedName;

    @Option(names = "--policy", defaultValue = "none", description = "capacity policy, e.g. none, score@1.5, device@1.0 (default: ${DEFAULT-VALUE})")
    String policy;

    @Mixin ServerOptions server = new ServerOptions();

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "address to bind (default: ${DEFAULT-VALUE})") String host;
    @Option(names = "--port", defaultValue = "8000", description = "port (0 = any free one; default: ${DEFAULT-VALUE})") int port;

    @Option(names = "--max-queue", defaultValue = "256", description = "requests waiting for a slot before 429 (default: ${DEFAULT-VALUE})")
    int maxQueue;

    @Option(names = "--max-context", defaultValue = "0", description = "positions per slot (0 = max_position_embeddings; default: ${DEFAULT-VALUE})")
    int maxContext;

    static DeviceOption oneDevice() {
        DeviceOption d = new DeviceOption();
        d.devices = 1;
        return d;
    }

    @Override
    public Integer call() throws InterruptedException {
        ServeOptions o = new ServeOptions(model.require(), servedName, Policy.parse(policy), server.decodeCapacity(),
                host, port, server.maxBatchTokens, server.maxRunning, maxQueue, maxContext, devices.devices, server.epMode, model.weights());
        OpenAiServer running = OpenAiServer.start(o);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            running.close();
            stopped.countDown();
        }));
        System.err.printf("capmoe serve: %s on %s (policy %s, decode capacity %s, %d slots x %d positions, %s chat template); Ctrl-C stops%n",
                o.servedName(), running.url(), o.policy().label(), server.decodeCapacity, o.maxRunning(), running.maxContext(),
                running.hasChatTemplate() ? "the checkpoint's" : "no: plain");
        stopped.await();
        return 0;
    }
}
