package capmoe.kernels;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The one place where kernels go parallel: a team of persistent worker threads that never wait
 * for work to be handed over. Kernels ask {@link #current()}; by default that is a team over all
 * cores, but a caller can run work on its own team with {@link #run}, which is how the
 * expert-parallel runtime gives each simulated device its own share of the cores.
 *
 * <p>One parallel operation is a <em>phase</em>:
 * <ol>
 *   <li>the calling thread writes the phase (its body and task count), opens it and bumps the
 *       team's epoch; workers spinning on the epoch see it within a cache-line transfer (workers
 *       idle for longer than {@link #SPIN_NANOS} are parked and get unparked);</li>
 *   <li>the caller and every worker that joins claim tasks from one atomic counter until none is
 *       left, so a hot expert's tiles spread over every thread and a worker that has lost its core
 *       (a shared machine) leaves its share to the others instead of holding them up;</li>
 *   <li>the caller closes the phase once no joined worker is still running a task: the barrier
 *       between phases. A worker arriving after that skips the phase.</li>
 * </ol>
 * A phase costs well under a microsecond to hand off, against about 25 µs for the fork/join pool
 * this replaces, so every matmul, the attention heads and the MoE's expert tiles can be a phase
 * of their own. Which thread computes a task never changes its result: kernels give every output
 * element a fixed operation order.
 *
 * <p>A phase started from inside a phase of the same team (a kernel calling a kernel), or while
 * another thread is using the team, runs on the calling thread alone.
 */
public final class Parallel implements AutoCloseable {
    private static final ScopedValue<Parallel> CURRENT = ScopedValue.newInstance();
    private static final Parallel DEFAULT = new Parallel(Runtime.getRuntime().availableProcessors());
    /** How long an idle worker spins on the epoch before it parks (a decode step's gaps between phases are far shorter). */
    static final long SPIN_NANOS = 200_000;
    private static final int HELPERS = 1024;
    private static final int CLOSED = Integer.MIN_VALUE;

    /**
     * Multiply-adds (or as many other simple steps) a task of a phase should hold at least: a few
     * microseconds of work, more than handing it to another core costs. A small operation (a
     * router, a tiny model's projection, one head's attention over a short context) then goes to
     * fewer threads, or stays on the caller, instead of waking the whole team for nanoseconds each.
     * 32,768 (2^15) unless the system property {@code capmoe.minTaskWork} says otherwise (for
     * measuring the trade-off on a machine; the bits never depend on it).
     */
    public static final long MIN_TASK_WORK = Math.max(1, Long.getLong("capmoe.minTaskWork", 1 << 15));

    /** Tasks to split {@code work} multiply-adds into: at most {@code max} and {@link #threads()}, each about {@link #MIN_TASK_WORK} or more. */
    public int tasks(long work, int max) {
        return (int) Math.max(1, Math.min(Math.min(max, threads), work / MIN_TASK_WORK));
    }

    /** Work on the half-open range [start, end). */
    @FunctionalInterface
    public interface Range {
        void run(int start, int end);
    }

    /** Task {@code task} of a phase of independent tasks. */
    @FunctionalInterface
    public interface Task {
        void run(int task);
    }

    private final int threads;
    private final Worker[] workers;            // threads - 1 of them; the caller is the team's thread 0
    private final ReentrantLock owner = new ReentrantLock();

    // the current phase: written by the caller before it opens the phase (active = 0), read by workers after they join it
    private Task body;
    private int tasks;
    private boolean pinned;                     // task i on thread i, not claimed
    private long phase;
    private final AtomicInteger next = new AtomicInteger();       // the next unclaimed task
    private final AtomicInteger done = new AtomicInteger();       // pinned phases: worker tasks finished
    /** Workers inside the current phase; CLOSED between phases, so a late worker cannot join a finished one. */
    private final AtomicInteger active = new AtomicInteger(CLOSED);
    private volatile Throwable failure;
    /** Phase number * 1024 + the workers woken for it: what idle workers watch. */
    private volatile long epoch;
    private volatile boolean closed;
    private long handOffs;                      // phases handed to the workers so far (written by the owner, under its lock)

    /** A team of {@code threads} threads, the caller included (1 = run everything on the caller's thread). */
    public Parallel(int threads) {
        if (threads < 1 || threads > HELPERS) throw new IllegalArgumentException("threads must be 1.." + HELPERS + ", got " + threads);
        this.threads = threads;
        this.workers = new Worker[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker(i + 1);
            workers[i].start();
        }
    }

    /** The team bound by the innermost {@link #run}, else the all-cores default. */
    public static Parallel current() {
        return CURRENT.orElse(DEFAULT);
    }

    public static Parallel defaults() { return DEFAULT; }

    public int threads() { return threads; }

    /**
     * Phases this team has handed to its workers so far: each one a wake-up and a barrier. A
     * phase that ran on the caller alone (one task, a nested call, a one-thread team) is not one.
     */
    public long handOffs() { return handOffs; }

    /** Runs {@code work} with this team as {@link #current()} (for every kernel it calls). */
    public void run(Runnable work) {
        ScopedValue.where(CURRENT, this).run(work);
    }

    /**
     * Splits [0, n) into at most threads() chunks of at least {@code grain} items (chunk bounds are
     * multiples of {@code grain}, so kernels can tile) and runs them as one phase.
     */
    public void forRange(int n, int grain, Range body) {
        if (n <= 0) return;
        int g = Math.max(1, grain);
        int units = (n + g - 1) / g;
        int chunks = Math.min(threads, units);
        if (chunks <= 1) {
            body.run(0, n);
            return;
        }
        split(body, n, g, units, chunks);
    }

    /**
     * Splits [0, n) into nearly equal chunks (sizes differ by at most one item) of at least about
     * {@link #MIN_TASK_WORK} multiply-adds each, {@code work} per item, at most threads() of them,
     * and runs them as one phase. For items that need no alignment (a matmul's panels): unlike
     * {@link #forRange}, whose chunks are whole grains, 3 items' worth of work on 2 threads is
     * split 1.5 : 1.5, not 1 : 2.
     */
    public void forWork(int n, long work, Range body) {
        if (n <= 0) return;
        int chunks = (int) Math.min(Math.min(threads, n), Math.max(1, Math.round((double) n * Math.max(work, 1) / MIN_TASK_WORK)));
        if (chunks <= 1) {
            body.run(0, n);
            return;
        }
        split(body, n, 1, n, chunks);
    }

    /** One phase of {@code chunks} tasks over [0, n) in {@code units} grains of {@code g} items: {@link Split}. */
    private void split(Range body, int n, int g, int units, int chunks) {
        Split split = Split.SLOT.take();
        split.body = body;
        split.n = n;
        split.g = g;
        split.units = units;
        split.chunks = chunks;
        try {
            forEach(chunks, split);
        } finally {
            split.body = null;
            Split.SLOT.put(split);
        }
    }

    /**
     * The phase body of {@link #forRange} and {@link #forWork}, kept in the calling thread's
     * {@link ThreadSlot} for its next call (no lambda per phase): task c runs grains
     * [units·c/chunks, units·(c+1)/chunks) of [0, n) on {@code body} (forWork: grains of 1 item).
     */
    private static final class Split implements Task {
        static final ThreadSlot<Split> SLOT = new ThreadSlot<>(Split::new);
        Range body;
        int n, g, units, chunks;

        @Override
        public void run(int c) {
            int start = Math.min(n, (int) ((long) units * c / chunks) * g);
            int end = Math.min(n, (int) ((long) units * (c + 1) / chunks) * g);
            if (start < end) body.run(start, end);
        }
    }

    /**
     * Runs tasks 0..count-1 as one phase, each exactly once, on whichever thread claims it first
     * (a worker that has not joined by the time every task is claimed is not waited for).
     */
    public void forEach(int count, Task body) {
        phase(count, body, false);
    }

    /** Runs task i on team thread i, for i in 0..threads()-1, as one phase (measuring the machine per thread). */
    public void onEachThread(Task body) {
        phase(threads, body, true);
    }

    private void phase(int count, Task body, boolean pinned) {
        if (count <= 0) return;
        if ((count == 1 && !pinned) || workers.length == 0 || inPhase() || !owner.tryLock()) {
            for (int t = 0; t < count; t++) body.run(t);
            return;
        }
        try {
            this.body = body;
            this.tasks = count;
            this.pinned = pinned;
            this.phase++;
            this.handOffs++;
            this.failure = null;
            next.set(0);
            done.set(0);
            int helpers = pinned ? workers.length : Math.min(workers.length, count - 1);
            active.set(0);                                          // opens the phase, publishing the fields above
            epoch = (epoch / HELPERS + 1) * HELPERS + helpers;
            for (int i = 0; i < helpers; i++) workers[i].wake();
            Worker.IN_PHASE.set(this);
            try {
                if (pinned) body.run(0);
                else claim(body, count);
            } finally {
                Worker.IN_PHASE.set(null);      // not remove(): the next phase's get() and set() would make a new entry
            }
            for (int spins = 0; pinned && done.get() < workers.length && failure == null; spins++) backOff(spins);
            for (int spins = 0; !active.compareAndSet(0, CLOSED); spins++) backOff(spins);
            this.body = null;
            Throwable f = failure;
            if (f instanceof RuntimeException re) throw re;
            if (f instanceof Error e) throw e;
        } finally {
            owner.unlock();
        }
    }

    private static void backOff(int spins) {
        if (spins < 1 << 14) Thread.onSpinWait();
        else Thread.yield();                    // a worker lost its core (a shared machine)
    }

    private void claim(Task body, int count) {
        for (int t; (t = next.getAndIncrement()) < count; ) body.run(t);
    }

    /** A worker enters the open phase (false once the caller has closed it). */
    private boolean enter() {
        for (int v; (v = active.get()) >= 0; ) if (active.compareAndSet(v, v + 1)) return true;
        return false;
    }

    private boolean inPhase() {
        return Worker.IN_PHASE.get() == this;
    }

    @Override
    public void close() {
        if (this == DEFAULT || closed) return;
        closed = true;
        for (Worker w : workers) LockSupport.unpark(w);
    }

    /** Team thread {@code index}: waits on the epoch, runs its share of each phase, checks in. */
    private final class Worker extends Thread {
        static final ThreadLocal<Parallel> IN_PHASE = new ThreadLocal<>();
        private final int index;
        private volatile boolean parked;
        private long ranPhase;                  // the last pinned phase this worker ran its task in

        Worker(int index) {
            super("capmoe-kernel-" + index);
            this.index = index;
            setDaemon(true);
        }

        void wake() {
            if (parked) LockSupport.unpark(this);
        }

        @Override
        public void run() {
            IN_PHASE.set(Parallel.this);
            ScopedValue.where(CURRENT, Parallel.this).run(this::loop);
        }

        private void loop() {
            long seen = 0;
            while (!closed) {
                long idleSince = System.nanoTime();
                int spins = 0;
                long e;
                while ((e = epoch) == seen) {
                    if (closed) return;
                    Thread.onSpinWait();
                    if ((++spins & 255) == 0 && System.nanoTime() - idleSince > SPIN_NANOS) {
                        parked = true;
                        if (epoch == seen && !closed) LockSupport.park(this);
                        parked = false;
                        idleSince = System.nanoTime();
                    }
                }
                seen = e;
                if (index > e % HELPERS || !enter()) continue;   // not needed, or the phase is over
                boolean mine = pinned && ranPhase != phase;
                try {
                    if (mine) {
                        ranPhase = phase;
                        body.run(index);
                    } else if (!pinned) {
                        claim(body, tasks);
                    }
                } catch (Throwable t) {
                    failure = t;
                    next.set(tasks);              // the others stop claiming
                } finally {
                    if (mine) done.incrementAndGet();
                    active.decrementAndGet();
                }
            }
        }
    }
}
