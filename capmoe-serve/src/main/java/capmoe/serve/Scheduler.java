package capmoe.serve;

import capmoe.model.CausalLM;
import capmoe.model.Generator;
import capmoe.model.RunOptions;
import capmoe.model.Session;
import capmoe.routing.Policy;
import capmoe.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Continuous batching: the one thread that owns the model. KV memory is slotted: a {@link Session}
 * of {@code maxRunning} sequences, each slot holding up to {@code maxContext} positions (a request
 * whose prompt + max_tokens does not fit is refused up front, so a running one never runs out);
 * requests beyond the free slots wait in a bounded queue (beyond that: 429).
 *
 * <p>Each step, at a step boundary:
 * <ol>
 *   <li>Slots of cancelled requests (client gone) are freed ({@link Session#reset}); waiting
 *       requests take free slots, first come first served.</li>
 *   <li>The step's tokens: one decode token per running sequence past its prompt, then chunks of
 *       the prompts being prefilled, in arrival order, while {@code maxBatchTokens} allows (chunked
 *       prefill mixed with decode, as vLLM's scheduler); idle slots append nothing.</li>
 *   <li>One {@link Session#appendLast} over all of them: every MoE layer routes the step's T tokens
 *       together, so a capacity policy's {@code C = ceil(γ·k·T/E)} is computed over this step's
 *       batch. A decode-only step with {@code --decode-capacity off} runs under {@code none}: the
 *       official code computes no capacity for a forward of one token (Capacity-Aware-MoE,
 *       capacity_aware/capacity_patch.py line 27, {@code _compute_capacity}: {@code if total_tokens <= 1:
 *       return None}, i.e. a batch-1 decode step); "off" extends that to every decode-only step,
 *       one token per running sequence.</li>
 *   <li>Each sequence whose prompt is now complete picks its next token exactly as
 *       {@link Generator#generate} does (argmax at temperature 0, else {@link Generator#sample} with
 *       its own seeded generator), so under {@code none} a request gets {@code generate}'s tokens.</li>
 *   <li>Tokens and text go to the request's connection; a sequence that hit eos, a stop string or
 *       max_tokens ends and its slot is freed.</li>
 * </ol>
 */
public final class Scheduler implements AutoCloseable {
    private static final int[] NOTHING = new int[0];

    private final CausalLM model;
    private final Tokenizer tokenizer;
    private final ServeMetrics metrics;
    private final int maxBatchTokens, maxContext;
    private final boolean decodeCapacity;
    private final List<Integer> eos;
    private final Session session, decodeSession;
    private final Sequence[] slots;
    private final List<Sequence> running = new ArrayList<>();   // arrival order
    private final LinkedBlockingDeque<Sequence> waiting;
    private final AtomicLong ids = new AtomicLong();
    private final Thread thread;
    private volatile boolean stopping;

    /**
     * @param options the model's run options (policy, placement, executor; the listener is replaced by {@code metrics})
     */
    public Scheduler(CausalLM model, Tokenizer tokenizer, RunOptions options, boolean decodeCapacity,
                     int maxRunning, int maxBatchTokens, int maxQueue, int maxContext, ServeMetrics metrics) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.metrics = metrics;
        this.maxBatchTokens = maxBatchTokens;
        this.maxContext = maxContext;
        this.decodeCapacity = decodeCapacity;
        this.eos = model.config().eosTokenIds();
        RunOptions watched = options.withListener(metrics);
        this.session = model.newSession(maxRunning, watched);
        this.decodeSession = decodeCapacity ? session : session.withOptions(watched.withPolicy(new Policy.None()));
        this.slots = new Sequence[maxRunning];
        this.waiting = new LinkedBlockingDeque<>(Math.max(1, maxQueue));
        this.thread = Thread.ofPlatform().name("capmoe-scheduler").daemon().unstarted(this::loop);
        thread.start();
    }

    public int maxContext() { return maxContext; }

    /**
     * Queues a request; its events follow on the returned sequence. Refuses (429) when the queue is
     * full and (503) when the server is stopping. The caller has checked the lengths against the context.
     */
    public Sequence submit(int[] prompt, GenerationParams params, int maxTokens) {
        if (stopping) throw new ApiError(503, "server_error", "the server is shutting down", null, null);
        Sequence s = new Sequence(Long.toString(ids.incrementAndGet()), prompt, params, maxTokens);
        if (!waiting.offerLast(s)) {
            throw new ApiError(429, "rate_limit_error", "the server's queue is full (" + waiting.size()
                    + " requests waiting for a KV slot); retry later", null, "queue_full");
        }
        return s;
    }

    private void loop() {
        while (!stopping) {
            try {
                admit();
                if (running.isEmpty()) {
                    Sequence s = waiting.pollFirst(100, TimeUnit.MILLISECONDS);
                    if (s != null) waiting.offerFirst(s);
                    continue;
                }
                step();
            } catch (InterruptedException e) {
                break;
            } catch (RuntimeException | Error e) {
                // the model failed on this step: fail its requests, keep serving the next ones
                ApiError err = new ApiError(500, "server_error", "the model failed: " + e, null, null);
                for (Sequence s : List.copyOf(running)) end(s, new Event.Failed(err), "error");
            }
        }
        ApiError err = new ApiError(503, "server_error", "the server is shutting down", null, null);
        for (Sequence s : List.copyOf(running)) end(s, new Event.Failed(err), "error");
        Sequence s;
        while ((s = waiting.pollFirst()) != null) s.emit(new Event.Failed(err));
    }

    /** Step 1: free the slots of cancelled requests, fill free slots from the queue. */
    private void admit() {
        for (Sequence s : List.copyOf(running)) if (s.cancelled()) end(s, null, "cancelled");
        for (int slot = 0; slot < slots.length && !waiting.isEmpty(); slot++) {
            if (slots[slot] != null) continue;
            Sequence s;
            do { s = waiting.pollFirst(); } while (s != null && s.cancelled());
            if (s == null) break;
            s.slot = slot;
            s.random = new SplittableRandom(s.params.seed() != null ? s.params.seed() : System.nanoTime() ^ s.arrivalNanos);
            s.text = new TextStream(tokenizer, s.params.stop());
            slots[slot] = s;
            running.add(s);
        }
        publishQueue();
    }

    /** Steps 2-5. */
    private void step() {
        int[][] tokens = new int[slots.length][];
        java.util.Arrays.fill(tokens, NOTHING);
        int budget = maxBatchTokens, decodeRows = 0, prefillRows = 0;
        for (Sequence s : running) {
            if (!s.prefilling()) {
                tokens[s.slot] = new int[] {s.generated[s.count - 1]};
                budget--;
                decodeRows++;
            }
        }
        for (Sequence s : running) {
            if (!s.prefilling() || budget == 0) continue;
            int n = Math.min(budget, s.prompt.length - s.prefilled);
            tokens[s.slot] = java.util.Arrays.copyOfRange(s.prompt, s.prefilled, s.prefilled + n);
            budget -= n;
            prefillRows++;
        }
        ServeMetrics.Phase phase = prefillRows == 0 ? ServeMetrics.Phase.DECODE
                : decodeRows == 0 ? ServeMetrics.Phase.PREFILL : ServeMetrics.Phase.MIXED;
        metrics.phase(phase);
        long t0 = System.nanoTime();
        float[][] logits = (phase == ServeMetrics.Phase.DECODE ? decodeSession : session).appendLast(tokens);
        metrics.step(phase, maxBatchTokens - budget, (System.nanoTime() - t0) / 1e9);
        for (Sequence s : List.copyOf(running)) {
            int n = tokens[s.slot].length;
            if (n == 0) continue;
            if (s.prefilling()) {
                s.prefilled += n;
                if (s.prefilling()) continue;
            }
            accept(s, logits[s.slot]);
        }
        publishQueue();
    }

    /** Step 4-5 for one sequence: pick, send, maybe end. */
    private void accept(Sequence s, float[] logits) {
        GenerationParams p = s.params;
        int next = p.temperature() == 0 ? Generator.argmax(logits) : Generator.sample(logits, p.temperature(), p.topP(), s.random);
        long now = System.nanoTime();
        if (s.count == 0) {
            s.firstTokenNanos = now;
            metrics.firstToken((now - s.arrivalNanos) / 1e9);
        }
        s.generated[s.count++] = next;
        boolean eosHit = !p.ignoreEos() && eos.contains(next);
        String text = eosHit ? "" : s.text.add(next);
        Event.TokenLogprob lp = p.logprobs() == null ? null : logprob(logits, next, p.logprobs());
        s.emit(new Event.Token(next, text, lp));
        String reason = eosHit || s.text.stopped() ? "stop" : s.count == s.maxTokens ? "length" : null;
        if (reason != null) end(s, null, reason);
    }

    /** Ends a running sequence: its last text and Done (or {@code failure}), then frees the slot. */
    private void end(Sequence s, Event failure, String reason) {
        if (failure != null) {
            s.emit(failure);
        } else if (!reason.equals("cancelled")) {
            String rest = s.text.finish();
            if (!rest.isEmpty()) s.emit(new Event.Token(-1, rest, null));
            s.emit(new Event.Done(reason, s.prompt.length, s.count));
        }
        long now = System.nanoTime();
        metrics.finished(reason, s.prompt.length, s.count, s.count > 0 ? (now - s.firstTokenNanos) / 1e9 : 0, (now - s.arrivalNanos) / 1e9);
        session.reset(s.slot);
        slots[s.slot] = null;
        running.remove(s);
    }

    private Event.TokenLogprob logprob(float[] logits, int id, int top) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) max = Math.max(max, l);
        double sum = 0;
        for (float l : logits) sum += Math.exp(l - max);
        double logZ = max + Math.log(sum);
        List<Event.Top> tops = new ArrayList<>(top);
        boolean[] taken = new boolean[logits.length];
        for (int k = 0; k < top; k++) {
            int best = -1;
            for (int i = 0; i < logits.length; i++) if (!taken[i] && (best < 0 || logits[i] > logits[best])) best = i;
            taken[best] = true;
            tops.add(new Event.Top(best, tokenizer.decode(new int[] {best}), logits[best] - logZ));
        }
        return new Event.TokenLogprob(id, tokenizer.decode(new int[] {id}), logits[id] - logZ, tops);
    }

    private void publishQueue() {
        int kv = 0;
        for (Sequence s : running) kv += s.prefilled + Math.max(0, s.count - 1);
        metrics.queue(running.size(), waiting.size(), kv);
    }

    /** Stops the scheduler thread; requests still queued or running get a 503 failure. */
    @Override
    public void close() {
        stopping = true;
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
