package capmoe.serve;

import capmoe.weights.LoadOptions;
import capmoe.routing.Policy;

import java.nio.file.Path;

/**
 * How {@code ./capmoe serve} runs.
 *
 * @param model          Hugging Face checkpoint directory
 * @param servedName     the model id clients name in {@code "model"} (and {@code GET /v1/models} lists)
 * @param policy         the capacity policy of every MoE layer
 * @param decodeCapacity whether the policy also applies to decode-only steps (one token per running
 *                       sequence); off follows the official code, which skips capacity for such forwards
 * @param host           address to bind
 * @param port           port to bind (0 = any free port)
 * @param maxBatchTokens tokens one step may put through the model (decode tokens first, then prefill chunks)
 * @param maxRunning     KV slots: sequences decoding at once; more requests wait in the queue
 * @param maxQueue       requests that may wait for a slot; beyond that the server answers 429
 * @param maxContext     positions each slot holds (prompt + generated); 0 = the config's max_position_embeddings
 * @param devices        expert placement over this many devices (contiguous); above 1 the experts run
 *                       through the in-process expert-parallel runtime
 * @param epMode         that runtime's mode: parallel or timed-serial
 * @param weights        how the weight matrices are loaded ({@code --quantize}, {@code --dot}); null: {@link LoadOptions#DEFAULT}
 */
public record ServeOptions(Path model, String servedName, Policy policy, boolean decodeCapacity,
                           String host, int port, int maxBatchTokens, int maxRunning, int maxQueue,
                           int maxContext, int devices, String epMode, LoadOptions weights) {

    public ServeOptions {
        if (model == null) throw new IllegalArgumentException("--model is required");
        if (policy == null) throw new IllegalArgumentException("policy must not be null (use none)");
        if (policy.redundantReplicas() > 0) {
            throw new IllegalArgumentException("--policy " + policy.label() + ": replicas (EPLB) are placed by ep-bench, eval and demo "
                    + "from a routing trace; serve does not place them (use " + policy.capacityPolicy().label() + ")");
        }
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be in 0..65535, got " + port);
        if (maxRunning < 1) throw new IllegalArgumentException("--max-running must be >= 1, got " + maxRunning);
        if (maxBatchTokens < maxRunning) {
            throw new IllegalArgumentException("--max-batch-tokens (" + maxBatchTokens + ") must be >= --max-running ("
                    + maxRunning + "): a step holds one decode token per running sequence");
        }
        if (maxQueue < 0) throw new IllegalArgumentException("--max-queue must be >= 0, got " + maxQueue);
        if (maxContext < 0) throw new IllegalArgumentException("--max-context must be >= 0, got " + maxContext);
        if (devices < 1) throw new IllegalArgumentException("--devices must be >= 1, got " + devices);
        if (servedName == null || servedName.isBlank()) servedName = model.toAbsolutePath().normalize().getFileName().toString();
        if (host == null) host = "127.0.0.1";
        if (epMode == null) epMode = "parallel";
        if (weights == null) weights = LoadOptions.DEFAULT;
    }

    /** Defaults for a model: no policy, decode capacity on, 127.0.0.1 on a free port, 16 slots, 512 tokens a step. */
    public static ServeOptions defaults(Path model) {
        return new ServeOptions(model, null, new Policy.None(), true, "127.0.0.1", 0, 512, 16, 256, 0, 1, "parallel", null);
    }

    public ServeOptions withPolicy(Policy p, boolean decode) {
        return new ServeOptions(model, servedName, p, decode, host, port, maxBatchTokens, maxRunning, maxQueue, maxContext, devices, epMode, weights);
    }

    public ServeOptions withSlots(int running, int batchTokens, int queue) {
        return new ServeOptions(model, servedName, policy, decodeCapacity, host, port, batchTokens, running, queue, maxContext, devices, epMode, weights);
    }

    public ServeOptions withMaxContext(int context) {
        return new ServeOptions(model, servedName, policy, decodeCapacity, host, port, maxBatchTokens, maxRunning, maxQueue, context, devices, epMode, weights);
    }

    public ServeOptions withDevices(int d, String mode) {
        return new ServeOptions(model, servedName, policy, decodeCapacity, host, port, maxBatchTokens, maxRunning, maxQueue, maxContext, d, mode, weights);
    }

    public ServeOptions withWeights(LoadOptions w) {
        return new ServeOptions(model, servedName, policy, decodeCapacity, host, port, maxBatchTokens, maxRunning, maxQueue, maxContext, devices, epMode, w);
    }
}
