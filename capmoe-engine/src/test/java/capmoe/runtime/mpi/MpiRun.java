package capmoe.runtime.mpi;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs a main class of the test class path under a real {@code mpirun -np N} (Open MPI), for
 * tests of anything that runs as ranks: every rank is a JDK-25 JVM with the pom's
 * {@code capmoe.jvm.flags} (handed to the tests by surefire as the system property of the same
 * name) and the test class path. Usage:
 * <pre>{@code
 * MpiRun.Result r = MpiRun.of(MyRankMain.class, "arg").ranks(4).transport(Transport.TCP).run();
 * r.assertSucceeded();
 * String rank2 = r.rankOutput(2);
 * }</pre>
 * The command line is
 * {@code mpirun [--allow-run-as-root] --oversubscribe --bind-to none -np N --tag-output
 * --mca pml ob1 --mca btl self,vader|self,tcp [--mca btl_tcp_if_include lo --mca oob_tcp_if_include lo]
 * JAVA FLAGS -cp CP MAIN ARGS}: {@code pml ob1} so that the chosen byte-transfer layer really
 * carries the messages (UCX would bypass it), {@code --tag-output} so each line can be given to
 * its rank ({@code [job,rank]<stdout>:text}); lines without a tag are mpirun's own.
 *
 * <p>When {@code mpirun} is not installed the run FAILS (an {@link AssertionError} saying what
 * to install): CI's {@code .ci/run} installs Open MPI, so a missing one is a broken set-up, not a
 * reason to skip.
 */
public final class MpiRun {

    /** The byte-transfer layer between ranks of one host. */
    public enum Transport {
        /** Open MPI's shared-memory BTL ({@code vader}). */
        SHARED_MEMORY("self,vader"),
        /** TCP over the loopback interface (what two hosts would use, on one). */
        TCP("self,tcp");

        final String btl;

        Transport(String btl) {
            this.btl = btl;
        }
    }

    private static final Pattern TAG = Pattern.compile("^\\[\\d+,(\\d+)\\]<(stdout|stderr)>:(.*)$");

    private final String mainClass;
    private final List<String> args;
    private int ranks = 2;
    private Transport transport = Transport.SHARED_MEMORY;
    private Duration timeout = Duration.ofSeconds(120);
    private final List<String> jvmArgs = new ArrayList<>(List.of("-Xmx768m", "-XX:+UseSerialGC"));
    private final List<String> mpirunArgs = new ArrayList<>();
    private final Map<String, String> env = new TreeMap<>();

    private MpiRun(String mainClass, List<String> args) {
        this.mainClass = mainClass;
        this.args = args;
    }

    /** A run of {@code main}'s {@code main(args)} on every rank. */
    public static MpiRun of(Class<?> main, String... args) {
        return new MpiRun(main.getName(), List.of(args));
    }

    /** Number of ranks ({@code -np}); default 2. */
    public MpiRun ranks(int n) {
        this.ranks = n;
        return this;
    }

    /** Byte-transfer layer; default shared memory. */
    public MpiRun transport(Transport t) {
        this.transport = t;
        return this;
    }

    /** Wall-clock limit of the whole job; on expiry every process of it is killed. Default 120 s. */
    public MpiRun timeout(Duration d) {
        this.timeout = d;
        return this;
    }

    /** Extra JVM options for every rank (after the defaults {@code -Xmx768m -XX:+UseSerialGC}). */
    public MpiRun jvmArgs(String... a) {
        jvmArgs.addAll(List.of(a));
        return this;
    }

    /** Extra {@code mpirun} options, before {@code -np}. */
    public MpiRun mpirunArgs(String... a) {
        mpirunArgs.addAll(List.of(a));
        return this;
    }

    /** An environment variable for mpirun and, through it, every rank. */
    public MpiRun env(String name, String value) {
        env.put(name, value);
        return this;
    }

    /** Path of {@code mpirun}, or an AssertionError saying how to install it. */
    public static Path mpirun() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, "mpirun");
            if (Files.isExecutable(p)) {
                return p;
            }
        }
        throw new AssertionError("mpirun not found on PATH: the MPI tests need Open MPI 4.x "
                + "(apt-get install -y --no-install-recommends openmpi-bin; CI's .ci/run installs it)");
    }

    /** The full command line this run starts. */
    public List<String> command() {
        List<String> cmd = new ArrayList<>();
        cmd.add(mpirun().toString());
        if ("root".equals(System.getProperty("user.name"))) {
            cmd.add("--allow-run-as-root");
        }
        cmd.addAll(List.of("--oversubscribe", "--bind-to", "none", "--tag-output",
                "--mca", "pml", "ob1", "--mca", "btl", transport.btl));
        if (transport == Transport.TCP) {
            cmd.addAll(List.of("--mca", "btl_tcp_if_include", "lo", "--mca", "oob_tcp_if_include", "lo"));
        }
        cmd.addAll(mpirunArgs);
        cmd.addAll(List.of("-np", Integer.toString(ranks)));
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmFlags());
        cmd.addAll(jvmArgs);
        cmd.addAll(List.of("-cp", testClassPath(), mainClass));
        cmd.addAll(args);
        return cmd;
    }

    /** The pom's {@code capmoe.jvm.flags}, which surefire passes as a system property. */
    static List<String> jvmFlags() {
        String flags = System.getProperty("capmoe.jvm.flags");
        if (flags == null || flags.isBlank()) {
            throw new AssertionError("system property capmoe.jvm.flags is not set: run the MPI tests "
                    + "through Maven (surefire's systemPropertyVariables in the parent pom pass it)");
        }
        return Arrays.asList(flags.trim().split("\\s+"));
    }

    /** The test class path (surefire runs tests from a manifest-only jar; it names the real path here). */
    static String testClassPath() {
        String cp = System.getProperty("surefire.test.class.path");
        return cp != null && !cp.isBlank() ? cp : System.getProperty("java.class.path");
    }

    /** Starts the job; the caller waits for it (or kills a rank) through the returned {@link Job}. */
    public Job start() {
        ProcessBuilder pb = new ProcessBuilder(command());
        pb.environment().putAll(env);
        try {
            return new Job(pb.start(), ranks, timeout);
        } catch (IOException e) {
            throw new AssertionError("cannot start " + pb.command().getFirst() + ": " + e.getMessage(), e);
        }
    }

    /** Starts the job and waits for it to end (or for the timeout). */
    public Result run() {
        return start().await();
    }

    /** A started job: its output so far, its ranks' processes, waiting for it. */
    public static final class Job {
        private final Process process;
        private final int ranks;
        private final Duration timeout;
        private final long startNanos = System.nanoTime();
        private final List<String> lines = new ArrayList<>();
        private final List<Thread> readers;

        Job(Process process, int ranks, Duration timeout) {
            this.process = process;
            this.ranks = ranks;
            this.timeout = timeout;
            // stdout and stderr read apart: mpirun writes a tag and its text in pieces, so one merged
            // pipe could put one rank's stderr in the middle of another's stdout line
            this.readers = List.of(reader(process.getInputStream(), "stdout"), reader(process.getErrorStream(), "stderr"));
        }

        private Thread reader(java.io.InputStream stream, String name) {
            return Thread.ofPlatform().daemon().name("mpirun-" + name).start(() -> {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8))) {
                    for (String line; (line = in.readLine()) != null; ) {
                        synchronized (lines) {
                            lines.add(line);
                            lines.notifyAll();
                        }
                    }
                } catch (IOException e) {
                    synchronized (lines) {
                        lines.add("MpiRun: reading mpirun's " + name + " failed: " + e);
                    }
                }
            });
        }

        private boolean reading() {
            return readers.stream().anyMatch(Thread::isAlive);
        }

        /** The output so far. */
        public Result snapshot() {
            synchronized (lines) {
                return Result.parse(List.copyOf(lines), ranks, -1, false, elapsed());
            }
        }

        /**
         * Waits until the output so far satisfies {@code until}, and returns it; fails (killing the
         * job) when the job ends or {@code within} passes first.
         */
        public Result awaitOutput(Predicate<Result> until, Duration within) {
            long deadline = System.nanoTime() + within.toNanos();
            synchronized (lines) {
                while (true) {
                    Result now = Result.parse(List.copyOf(lines), ranks, -1, false, elapsed());
                    if (until.test(now)) {
                        return now;
                    }
                    long left = deadline - System.nanoTime();
                    if (left <= 0 || (!process.isAlive() && !reading())) {
                        kill();
                        throw new AssertionError("the awaited output did not come within " + within
                                + (process.isAlive() ? "" : " (the job ended)") + "; output:\n" + now.all());
                    }
                    try {
                        lines.wait(Math.max(1, Math.min(200, left / 1_000_000)));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        kill();
                        throw new AssertionError("interrupted", e);
                    }
                }
            }
        }

        /** Waits for the job to end; past the run's timeout kills every process of it and says so. */
        public Result await() {
            boolean ended;
            try {
                ended = process.waitFor(Math.max(0, timeout.toNanos() - (System.nanoTime() - startNanos)),
                        TimeUnit.NANOSECONDS);
                if (!ended) {
                    kill();
                    process.waitFor(10, TimeUnit.SECONDS);
                }
                for (Thread t : readers) {
                    t.join(5_000);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                kill();
                throw new AssertionError("interrupted", e);
            }
            synchronized (lines) {
                return Result.parse(List.copyOf(lines), ranks, ended ? process.exitValue() : -1, !ended, elapsed());
            }
        }

        /** SIGKILL to mpirun and every process under it. */
        public void kill() {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
        }

        Duration elapsed() {
            return Duration.ofNanos(System.nanoTime() - startNanos);
        }
    }

    /**
     * What a job printed, split by rank.
     *
     * @param exitCode mpirun's exit code (-1 while running or when killed at the timeout)
     * @param timedOut whether the job was killed at the timeout
     * @param elapsed  wall-clock time from start to end (or to this snapshot)
     * @param lines    every line as mpirun printed it (tags included), in order
     * @param ranks    per rank, its stdout and stderr lines without the tag, in order
     * @param mpirun   lines without a rank tag: mpirun's own messages
     */
    public record Result(int exitCode, boolean timedOut, Duration elapsed, List<String> lines,
                         List<List<String>> ranks, List<String> mpirun) {

        static Result parse(List<String> lines, int n, int exitCode, boolean timedOut, Duration elapsed) {
            List<List<String>> perRank = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                perRank.add(new ArrayList<>());
            }
            List<String> own = new ArrayList<>();
            for (String line : lines) {
                Matcher m = TAG.matcher(line);
                int r = m.matches() ? Integer.parseInt(m.group(1)) : -1;
                if (r >= 0 && r < n) {
                    // mpirun tags every chunk it reads from a rank: a line the rank flushed in two pieces
                    // carries the rank's tag again inside it; drop those inner tags
                    perRank.get(r).add(m.group(3).replaceAll("\\[\\d+," + r + "\\]<" + m.group(2) + ">:", ""));
                } else {
                    own.add(line);
                }
            }
            return new Result(exitCode, timedOut, elapsed, lines, perRank.stream().map(List::copyOf).toList(),
                    List.copyOf(own));
        }

        /** Rank r's output lines joined by newlines. */
        public String rankOutput(int r) {
            return String.join("\n", ranks.get(r));
        }

        /** The first line of rank r starting with {@code prefix}, if any. */
        public Optional<String> rankLine(int r, String prefix) {
            return ranks.get(r).stream().filter(l -> l.startsWith(prefix)).findFirst();
        }

        /** Everything, as printed. */
        public String all() {
            return String.join("\n", lines);
        }

        /** Fails, showing all output, unless the job ended by itself with exit code 0. */
        public Result assertSucceeded() {
            if (timedOut || exitCode != 0) {
                throw new AssertionError((timedOut ? "mpirun timed out after " + elapsed
                        : "mpirun exited with " + exitCode) + "; output:\n" + all());
            }
            return this;
        }
    }
}
