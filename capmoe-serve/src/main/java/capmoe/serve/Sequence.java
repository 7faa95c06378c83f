package capmoe.serve;

import java.util.SplittableRandom;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * One request inside the server. The connection's thread submits it and reads its {@link Event}s;
 * the scheduler thread alone touches the generation state (slot, prefill position, tokens, text).
 * {@link #cancel()} (the client went away) is the one thing both sides touch: the scheduler frees
 * the slot at its next step.
 */
public final class Sequence {
    final String id;
    final int[] prompt;
    final GenerationParams params;
    final int maxTokens;
    final long arrivalNanos = System.nanoTime();
    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private volatile boolean cancelled;

    // scheduler thread only
    int slot = -1;
    int prefilled;             // prompt tokens already in the slot's KV cache
    int[] generated;
    int count;
    SplittableRandom random;
    TextStream text;
    long firstTokenNanos;

    Sequence(String id, int[] prompt, GenerationParams params, int maxTokens) {
        this.id = id;
        this.prompt = prompt;
        this.params = params;
        this.maxTokens = maxTokens;
        this.generated = new int[maxTokens];
    }

    public String id() { return id; }

    public int promptTokens() { return prompt.length; }

    /** The client went away: stop generating and free the slot at the next step. */
    public void cancel() { cancelled = true; }

    boolean cancelled() { return cancelled; }

    /** Still feeding the prompt (the next step gets a chunk of it, not a decode token). */
    boolean prefilling() { return prefilled < prompt.length; }

    void emit(Event e) { events.add(e); }

    /** The next event, waiting up to {@code seconds}; null on time-out. */
    Event next(double seconds) throws InterruptedException {
        return events.poll((long) (seconds * 1e9), TimeUnit.NANOSECONDS);
    }
}
