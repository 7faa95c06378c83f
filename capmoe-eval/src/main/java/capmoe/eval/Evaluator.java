package capmoe.eval;

import capmoe.model.CausalLM;
import capmoe.model.RunOptions;
import capmoe.routing.Policy;
import capmoe.runtime.RoutingListener;
import capmoe.model.Session;
import capmoe.runtime.ep.EpBench;
import capmoe.runtime.ep.EpReplay;
import capmoe.tokenizer.Tokenizer;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.BiFunction;

/**
 * Runs every task under every policy. Tasks are tokenized once; each (task, policy) gets its own
 * {@link LoadRecorder} so that the report can show what the policy did to the routing on exactly
 * that workload.
 */
public final class Evaluator {

    /**
     * @param maxLength   the model's context for loglikelihood requests and rolling windows
     * @param batch       sequences per forward pass
     * @param prefixToken the token that starts a rolling window or an empty context (BOS, else EOS)
     * @param devices     devices of the contiguous placement used for the max-device-load accounting
     * @param sharedContext score a context's choices from its KV cache (prefill once, fork, append the
     *                      continuations); false runs every (context ++ continuation) as a full sequence, as
     *                      lm-eval's HF backend does. Same scores under {@code none}; under a capacity policy
     *                      the routed batches differ, so the scores do too (see {@link Loglikelihoods})
     * @param decodeSteps greedy decode steps after each batch of windows (not scored), recorded and timed
     *                    apart from the windows' pass when an {@link EpRuntime} times the run; 0 = none
     */
    public record Config(int maxLength, int batch, int prefixToken, int devices, boolean sharedContext, int decodeSteps) {
        public Config {
            if (maxLength < 2) throw new IllegalArgumentException("max length must be >= 2, got " + maxLength);
            if (batch < 1) throw new IllegalArgumentException("batch must be >= 1, got " + batch);
            if (decodeSteps < 0) throw new IllegalArgumentException("--decode-steps must be >= 0, got " + decodeSteps);
        }

        /** No decode steps. */
        public Config(int maxLength, int batch, int prefixToken, int devices, boolean sharedContext) {
            this(maxLength, batch, prefixToken, devices, sharedContext, 0);
        }

        /** Shared-context scoring, the default. */
        public Config(int maxLength, int batch, int prefixToken, int devices) {
            this(maxLength, batch, prefixToken, devices, true);
        }
    }

    private final CausalLM model;
    private final Tokenizer tokenizer;
    private final Config config;
    private final BiFunction<Policy, RoutingListener, RunOptions> runOptions;
    private final PrintStream progress;
    private final EpRuntime ep;  // null: not timed
    private final Map<String, int[]> encoded = new HashMap<>();

    /**
     * @param runOptions builds the engine's options for a policy with the given routing listener
     *                   (the caller picks the executor and placement)
     * @param progress   where the progress bar goes, or null for none
     */
    public Evaluator(CausalLM model, Tokenizer tokenizer, Config config,
                     BiFunction<Policy, RoutingListener, RunOptions> runOptions, PrintStream progress) {
        this(model, tokenizer, config, runOptions, progress, null);
    }

    /** @param ep time the MoE layer calls through the expert-parallel runtime (recorded, replayed interleaved), or null */
    public Evaluator(CausalLM model, Tokenizer tokenizer, Config config,
                     BiFunction<Policy, RoutingListener, RunOptions> runOptions, PrintStream progress, EpRuntime ep) {
        this.ep = ep;
        this.model = model;
        this.tokenizer = tokenizer;
        this.config = config;
        this.runOptions = runOptions;
        this.progress = progress;
    }

    /**
     * Every task under every policy.
     *
     * <ol>
     *   <li>run each (policy, task): score it, sum its routing load; with an {@link EpRuntime},
     *       record every MoE layer call it makes ({@link EpReplay.Recorder}, outputs unchanged);</li>
     *   <li>with an {@link EpRuntime}, per task: replay the recorded calls of all policies
     *       interleaved and give each result its EP time and speedup over the first policy (the
     *       baseline {@code none}, required first);</li>
     *   <li>add the groups (mmlu: acc over all its subjects' documents; EP timings concatenated).</li>
     * </ol>
     */
    public EvalResults run(List<Task> tasks, List<Policy> policies) {
        if (ep != null && !policies.isEmpty() && !(policies.getFirst() instanceof Policy.None)) {
            throw new IllegalArgumentException("measured EP speedups are relative to none: put none first (Policy.withBaseline)");
        }
        Map<String, Map<String, TaskResult>> byPolicy = new LinkedHashMap<>();
        Map<String, List<Recording>> recorded = new LinkedHashMap<>();
        for (Policy policy : policies) {
            Map<String, TaskResult> results = new LinkedHashMap<>();
            for (Task task : tasks) {
                Recording recording = null;
                if (ep != null) {
                    // built after the policies before it ran: a replicated policy's placements may come from none's routing
                    RunOptions o = runOptions.apply(policy, RoutingListener.NONE);
                    recording = new Recording(new EpReplay.Recorder(o.executor(), o.layerPlacements()),
                            new EpReplay.Recorder(o.executor(), o.layerPlacements()), new LoadRecorder(config.devices()));
                    recorded.computeIfAbsent(task.name(), k -> new ArrayList<>()).add(recording);
                }
                TaskResult r = evaluate(task, policy, recording);
                results.put(r.task(), r);
            }
            byPolicy.put(policy.label(), results);
        }
        Map<String, List<EpReplay.Timings>> timings = new HashMap<>();
        for (var e : recorded.entrySet()) {
            String task = e.getKey();
            List<List<EpReplay.Call>> calls = e.getValue().stream().map(r -> r.prefill().calls()).toList();
            List<List<EpReplay.Call>> decodeCalls = e.getValue().stream().map(r -> r.decode().calls()).toList();
            e.getValue().clear();
            List<EpReplay.Timings> t = ep.time(calls, progress("EP timing of " + task, calls));
            timings.put(task, t);
            List<EpReplay.Speedup> speedups = EpReplay.Speedup.overFirst(t);
            List<EpReplay.Timings> dt = decodeCalls.getFirst().isEmpty() ? null
                    : ep.time(decodeCalls, progress("EP timing of " + task + " (decode)", decodeCalls));
            List<EpReplay.Speedup> decodeSpeedups = dt == null ? null : EpReplay.Speedup.overFirst(dt);
            for (int i = 0; i < policies.size(); i++) {
                Map<String, TaskResult> m = byPolicy.get(policies.get(i).label());
                TaskResult r = m.get(task).withEp(t.get(i).epSeconds(), speedups.get(i));
                if (dt != null) {
                    r = r.withDecode(new TaskResult.Decode(r.decode().steps(), r.decode().load(), dt.get(i).epSeconds(), decodeSpeedups.get(i)));
                }
                m.put(task, r);
            }
        }
        for (int i = 0; i < policies.size(); i++) {
            addGroup(byPolicy.get(policies.get(i).label()), "mmlu", "mmlu_", policies.get(i).label(), timings, i);
        }
        return new EvalResults(byPolicy, config);
    }

    /**
     * What an EP-timed (task, policy) run records: its scoring passes' MoE layer calls (prefill),
     * its decode steps' calls, and the decode steps' routing load.
     */
    private record Recording(EpReplay.Recorder prefill, EpReplay.Recorder decode, LoadRecorder decodeLoads) { }

    private EpReplay.Progress progress(String what, List<List<EpReplay.Call>> calls) {
        return (done, all) -> {
            if (progress == null) return;
            progress.printf(Locale.ROOT, "%s (%s): pass %d/%d (%d warm-up) over %d MoE layer calls x %d policies%n",
                    what, ep.describe(), done, all, ep.warmup(), calls.getFirst().size(), calls.size());
            progress.flush();
        };
    }

    /** One task under one policy, not timed. */
    public TaskResult evaluate(Task task, Policy policy) {
        return evaluate(task, policy, null);
    }

    /** @param recording records every MoE layer call for {@link EpRuntime} (the executor wrapped), or null */
    private TaskResult evaluate(Task task, Policy policy, Recording recording) {
        LoadRecorder loads = new LoadRecorder(config.devices());
        RunOptions options = runOptions.apply(policy, loads);
        if (recording != null) options = options.withExecutor(recording.prefill());
        Progress bar = progress == null ? null : new Progress(progress, policy.label() + " " + task.name());
        TaskResult r = switch (task) {
            case Task.MultipleChoice mc -> multipleChoice(mc, policy, options, loads, bar);
            case Task.LastWord lw -> lastWord(lw, policy, options, loads, bar);
            case Task.RollingPerplexity rp -> rolling(rp, policy, options, loads, bar);
            case Task.TokenWindows tw -> windows(tw, policy, options, loads, bar,
                    recording == null || config.decodeSteps() == 0 ? null : recording);
        };
        return r;
    }

    private TaskResult multipleChoice(Task.MultipleChoice task, Policy policy, RunOptions options,
                                      LoadRecorder recorder, Progress bar) {
        List<LoglikelihoodRequest> requests = new ArrayList<>();
        for (Task.Doc doc : task.docs()) {
            for (int i = 0; i < doc.contexts().size(); i++) {
                requests.add(encodePair(doc.contexts().get(i), doc.continuations().get(i)));
            }
        }
        List<Loglikelihood> lls = Loglikelihoods.score(model, options, requests, config.maxLength(), config.batch(),
                config.sharedContext(), bar);
        int n = task.docs().size();
        double[] acc = new double[n];
        double[] accNorm = new double[n];
        int r = 0;
        for (int d = 0; d < n; d++) {
            Task.Doc doc = task.docs().get(d);
            int choices = doc.contexts().size();
            double[] ll = new double[choices];
            for (int i = 0; i < choices; i++) ll[i] = lls.get(r++).logprob();
            acc[d] = argmax(ll) == doc.gold() ? 1 : 0;
            accNorm[d] = argmaxPerByte(ll, doc.choiceTexts()) == doc.gold() ? 1 : 0;
        }
        Map<String, Double> metrics = new LinkedHashMap<>();
        Map<String, Double> stderrs = new LinkedHashMap<>();
        metrics.put("acc", Metrics.mean(acc));
        stderrs.put("acc", Metrics.meanStderr(acc));
        if (task.accNorm()) {
            metrics.put("acc_norm", Metrics.mean(accNorm));
            stderrs.put("acc_norm", Metrics.meanStderr(accNorm));
        }
        return new TaskResult(task.name(), policy.label(), n, metrics, stderrs, recorder.summary(), acc);
    }

    private TaskResult lastWord(Task.LastWord task, Policy policy, RunOptions options, LoadRecorder recorder, Progress bar) {
        List<LoglikelihoodRequest> requests = new ArrayList<>();
        for (Task.Pair p : task.docs()) requests.add(encodePair(p.context(), p.continuation()));
        List<Loglikelihood> lls = Loglikelihoods.score(model, options, requests, config.maxLength(), config.batch(),
                config.sharedContext(), bar);
        double[] ll = new double[lls.size()];
        double[] acc = new double[lls.size()];
        for (int i = 0; i < ll.length; i++) {
            ll[i] = lls.get(i).logprob();
            acc[i] = lls.get(i).greedy() ? 1 : 0;
        }
        Map<String, Double> metrics = new LinkedHashMap<>();
        Map<String, Double> stderrs = new LinkedHashMap<>();
        metrics.put("perplexity", Metrics.perplexity(ll));
        stderrs.put("perplexity", Metrics.bootstrapStderr(ll, Metrics::perplexity, 1000, 1234));
        metrics.put("acc", Metrics.mean(acc));
        stderrs.put("acc", Metrics.meanStderr(acc));
        return new TaskResult(task.name(), policy.label(), ll.length, metrics, stderrs, recorder.summary(), acc);
    }

    private TaskResult rolling(Task.RollingPerplexity task, Policy policy, RunOptions options, LoadRecorder recorder,
                               Progress bar) {
        List<LoglikelihoodRequest> requests = new ArrayList<>();
        int[] windowsPerPage = new int[task.pages().size()];
        for (int p = 0; p < windowsPerPage.length; p++) {
            List<LoglikelihoodRequest> w = RollingWindows.windows(encode(task.pages().get(p).target()),
                    config.prefixToken(), config.maxLength());
            windowsPerPage[p] = w.size();
            requests.addAll(w);
        }
        List<Loglikelihood> lls = Loglikelihoods.score(model, options, requests, config.maxLength(), config.batch(),
                config.sharedContext(), bar);
        int n = windowsPerPage.length;
        double[] ll = new double[n];
        long[] words = new long[n];
        long[] bytes = new long[n];
        int r = 0;
        for (int p = 0; p < n; p++) {
            for (int w = 0; w < windowsPerPage[p]; w++) ll[p] += lls.get(r++).logprob();
            String original = task.pages().get(p).original();
            words[p] = Wikitext.words(original);
            bytes[p] = original.getBytes(StandardCharsets.UTF_8).length;
        }
        Map<String, Double> metrics = new LinkedHashMap<>();
        Map<String, Double> stderrs = new LinkedHashMap<>();
        metrics.put("word_perplexity", Metrics.weightedPerplexity(ll, words));
        metrics.put("byte_perplexity", Metrics.weightedPerplexity(ll, bytes));
        metrics.put("bits_per_byte", Metrics.bitsPerByte(ll, bytes));
        // lm-eval reports no stderr for these corpus-level metrics
        for (String m : metrics.keySet()) stderrs.put(m, Double.NaN);
        return new TaskResult(task.name(), policy.label(), n, metrics, stderrs, recorder.summary(), null);
    }

    /**
     * Windowed perplexity. With {@code decode}: each batch runs through a KV-cached session (the
     * same pass as {@link CausalLM#forward}, so the same logits) and is followed by
     * {@link Config#decodeSteps} greedy decode steps under the same policy (each window's most
     * likely next token, one token per window per MoE call), recorded apart and not scored.
     */
    private TaskResult windows(Task.TokenWindows task, Policy policy, RunOptions options, LoadRecorder recorder,
                               Progress bar, Recording decode) {
        int[] tokens = encode(task.text());
        int seq = task.seq();
        int windows = tokens.length / seq;
        if (windows == 0) {
            throw new IllegalArgumentException(task.name() + ": the text has " + tokens.length
                    + " tokens, fewer than one window of " + seq);
        }
        int limit = task.limit() == 0 ? windows : Math.min(task.limit(), windows);
        if (bar != null) bar.start((long) limit * seq);
        double[] nllPerWindow = new double[limit];
        for (int start = 0; start < limit; start += task.batch()) {
            int b = Math.min(task.batch(), limit - start);
            int[][] batch = new int[b][];
            for (int i = 0; i < b; i++) {
                batch[i] = Arrays.copyOfRange(tokens, (start + i) * seq, (start + i + 1) * seq);
            }
            float[][] logits;
            if (decode == null) {
                logits = model.forward(batch, options);
            } else {
                Session session = model.newSession(b, options);
                logits = session.append(batch);
                Session steps = session.withOptions(options.withExecutor(decode.decode()).withListener(decode.decodeLoads()));
                float[][] last = new float[b][];
                for (int i = 0; i < b; i++) last[i] = Arrays.copyOfRange(logits[i], logits[i].length - logits[i].length / seq, logits[i].length);
                for (int step = 0; step < config.decodeSteps(); step++) last = steps.appendLast(EpBench.greedy(last));
            }
            for (int i = 0; i < b; i++) {
                int[] cont = Arrays.copyOfRange(batch[i], 1, seq);
                // positions 0..seq-2 predict tokens 1..seq-1: score them as a continuation of length seq-1
                float[] head = Arrays.copyOf(logits[i], (seq - 1) * (logits[i].length / seq));
                nllPerWindow[start + i] = -Loglikelihoods.continuationLoglikelihood(head, seq - 1, cont).logprob();
            }
            if (bar != null) bar.advance((long) b * seq);
        }
        if (bar != null) bar.finish();
        double totalNll = Metrics.sum(nllPerWindow);
        Map<String, Double> metrics = new LinkedHashMap<>();
        Map<String, Double> stderrs = new LinkedHashMap<>();
        metrics.put("perplexity", Math.exp(totalNll / ((double) limit * (seq - 1))));
        stderrs.put("perplexity", Double.NaN);
        metrics.put("tokens_scored", (double) limit * (seq - 1));
        stderrs.put("tokens_scored", Double.NaN);
        TaskResult r = new TaskResult(task.name(), policy.label(), limit, metrics, stderrs, recorder.summary(), null);
        return decode == null ? r : r.withDecode(new TaskResult.Decode(config.decodeSteps(), decode.decodeLoads().summary(), Double.NaN, null));
    }

    /**
     * lm-eval's _encode_pair: trailing spaces of the context move to the continuation, the pair is
     * encoded whole and the continuation is what follows the context's own encoding. An empty
     * context is the prefix token.
     */
    LoglikelihoodRequest encodePair(String context, String continuation) {
        int spaces = context.length() - context.stripTrailing().length();
        if (spaces > 0) {
            continuation = context.substring(context.length() - spaces) + continuation;
            context = context.substring(0, context.length() - spaces);
        }
        if (context.isEmpty()) return new LoglikelihoodRequest(new int[] {config.prefixToken()}, encode(continuation));
        int[] whole = encode(context + continuation);
        int[] ctx = encode(context);
        return new LoglikelihoodRequest(ctx, Arrays.copyOfRange(whole, ctx.length, whole.length));
    }

    private int[] encode(String text) {
        return encoded.computeIfAbsent(text, tokenizer::encode);
    }

    /** acc_norm's choice: the highest log-likelihood per UTF-8 byte of the choice text. */
    static int argmaxPerByte(double[] ll, List<String> choiceTexts) {
        double[] norm = new double[ll.length];
        for (int i = 0; i < ll.length; i++) norm[i] = ll[i] / choiceTexts.get(i).getBytes(StandardCharsets.UTF_8).length;
        return argmax(norm);
    }

    static int argmax(double[] xs) {
        int best = 0;
        for (int i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
        return best;
    }

    /**
     * lm-eval groups mmlu subjects: acc over all their documents together; with EP timings, the
     * members' recorded calls form one sequence (each repeat sums over all of them).
     */
    private static void addGroup(Map<String, TaskResult> results, String group, String prefix, String policy,
                                 Map<String, List<EpReplay.Timings>> timings, int policyIndex) {
        List<TaskResult> members = results.values().stream().filter(r -> r.task().startsWith(prefix)).toList();
        if (members.isEmpty()) return;
        int n = 0;
        for (TaskResult m : members) n += m.samples();
        double[] acc = new double[n];
        int i = 0;
        long calls = 0, kept = 0, assigned = 0, maxDev = 0;
        double maxOverMean = 0, dropped = 0, added = 0;
        for (TaskResult m : members) {
            System.arraycopy(m.perDocAcc(), 0, acc, i, m.samples());
            i += m.samples();
            LoadRecorder.LoadSummary s = m.load();
            calls += s.layerCalls();
            kept += s.keptPairs();
            assigned += s.assignedPairs();
            maxDev += s.sumMaxDeviceLoad();
            maxOverMean += s.meanMaxOverMeanLoad() * s.layerCalls();
            dropped += s.droppedFraction() * s.assignedPairs();
            added += s.addedFraction() * s.assignedPairs();
        }
        int devices = members.getFirst().load().devices();
        var load = new LoadRecorder.LoadSummary(calls, kept, assigned, assigned == 0 ? 0 : dropped / assigned,
                calls == 0 ? Double.NaN : maxOverMean / calls, maxDev, devices, assigned == 0 ? 0 : added / assigned);
        Map<String, Double> metrics = new LinkedHashMap<>();
        Map<String, Double> stderrs = new LinkedHashMap<>();
        metrics.put("acc", Metrics.mean(acc));
        stderrs.put("acc", Metrics.meanStderr(acc));
        TaskResult r = new TaskResult(group, policy, n, metrics, stderrs, load, acc);
        if (!timings.isEmpty()) {
            List<EpReplay.Timings> baseline = new ArrayList<>(), own = new ArrayList<>();
            for (TaskResult m : members) {
                baseline.add(timings.get(m.task()).getFirst());
                own.add(timings.get(m.task()).get(policyIndex));
            }
            EpReplay.Timings b = EpReplay.Timings.concat(baseline), p = EpReplay.Timings.concat(own);
            r = r.withEp(p.epSeconds(), EpReplay.Speedup.of(b, p));
        }
        results.put(group, r);
    }
}
