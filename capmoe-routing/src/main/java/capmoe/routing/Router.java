package capmoe.routing;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Gating + capacity policy for one MoE layer call. Thread-compatible: one Router per layer.
 * This is the entry point an engine uses: router logits in, kept (token, expert, weight) out.
 *
 * <p>Steps: (1) gate scores from the logits ({@link Gating}); (2) each token's top-k choice;
 * (3) candidates = the top-k plus, for Expanded Drop, the extra experts; (4) the policy keeps a
 * subset, ranking by the unbiased gate score; (5) kept weights = gate scores, divided by their sum
 * over the token's KEPT experts when {@code normTopkProb} (+1e-20 for DeepSeek-V3, as HF), then
 * multiplied by {@code routedScalingFactor}.
 *
 * <p>Capacity: {@code C = ceil(γ·k·(T/E))} for a fixed or per-layer γ ({@link Gamma}), or the
 * smallest C within the dropped-mass budget ({@link Gamma.Auto}); then at least the policy's
 * {@code min_capacity} and at most T. A {@link Policy.Replicated} policy routes exactly as its
 * inner policy; its placement (which must hold the asked number of redundant replicas) only
 * changes which device each pair runs on, {@link Placement#device(int, int)}, and so the device loads.
 *
 * <p>The hot path works on primitive arrays only; scratch buffers are reused between calls, the
 * returned {@link Routing} and its stats are fresh and never change ({@link #routeReusing}: this
 * Router's own, which its next such call overwrites). {@code random} draws from one stream per Router,
 * seeded by the policy's seed and a stream number: an engine gives each MoE layer its own stream
 * (its index), so layers draw independently, and the i-th call of a Router is reproducible. The
 * same number selects the layer's γ of {@code score@layers:FILE}.
 */
public final class Router {
    private final RouterConfig config;
    private final Policy policy;
    private final Policy base;          // the capacity policy (policy itself, or a Replicated's inner one)
    private final int layer;            // the stream number = the MoE layer index
    private final Placement placement;
    private final int experts;
    private final int topK;
    private final int[] localExperts;   // Expanded Drop's list, resolved against E
    private final int extras;           // Expanded Drop: extra candidates per token at most
    private final int[][] deviceExperts; // experts with a replica on each device, ascending
    private final int[] deviceSlots;     // expert replicas on each device (device capacity: slots * C)
    private final long randomSeed;      // the stream's seed: restart() begins it again
    private SplittableRandom random;

    // Scratch of one route() call, reused across calls (T = tokens, E = experts, k = top_k, P = candidate
    // (token, expert) pairs, G = expert groups of the DeepSeek front-ends). Per token: grown on demand.
    private float[] scores = new float[0];      // [T*E] gate scores (softmax / sigmoid), row-major
    private int[] topIdx = new int[0];          // [T*k] each token's top-k experts, best first
    private int[] candOff = new int[0];         // [T+1] start of each token's candidates in the cand* arrays
    private int[] candToken = new int[0];       // [P] candidate pair p's token
    private int[] candExpert = new int[0];      // [P] candidate pair p's expert
    private float[] candScore = new float[0];   // [P] candidate pair p's gate score (what capacity ranks by)
    private boolean[] keep = new boolean[0];    // [P] whether the policy keeps pair p
    private int[] pairs = new int[0];           // [P] pair indices bucketed by expert or device (counting sort)
    private long[] keys = new long[0];          // [P] sort keys within a bucket (score or position, with the pair index)
    // Per expert, group or device: sized once in the constructor.
    private final float[] sel;                  // [E] selection scores of one token (bias-corrected for DeepSeek-V3)
    private final float[] groupScore;           // [G] one token's score per expert group
    private final int[] groupIdx;               // [G] groups in score order (the top groups are kept)
    private final float[] kth;                  // [max(k, G)] scalar top-k: the best values so far of one token (or of its groups)
    private final float[] wide;                 // [E + 64] SIMD top-k: one token's scores padded to whole vectors
    private final int[] count;                  // [max(E, D)] pairs per bucket (expert or device), then write cursors
    private final int[] offset;                 // [max(E, D) + 1] bucket starts in pairs (prefix sums of count)
    private final int[] extraIdx;               // [max(m, 1)] Expanded Drop: one token's extra candidates, best first
    private final int[] chosen;                 // [E] stamp of the token whose top-k holds the expert (see markTopK)
    private int stamp;                          // current token's stamp: chosen[e] == stamp means e is in its top-k
    private boolean reusing;                    // this call is routeReusing's: the output arrays below are handed out
    private int[] outOffsets = new int[0], outExpertIds = new int[0], outLoadBefore = new int[0], outLoadAfter = new int[0],
            outDevBefore = new int[0], outDevAfter = new int[0];
    private float[] outWeights = new float[0];  // routeReusing's Routing arrays, kept while their lengths repeat
    private RoutingStats outStats;              // routeReusing's stats, refilled per call
    private Routing outRouting;                 // routeReusing's Routing, kept while its tokens and arrays repeat
    /** Where steps 1-2 of a call of at least {@link #PARALLEL_TOKENS} tokens run ({@link #tokenRanges}). */
    private TokenRanges ranges = TokenRanges.SERIAL;
    private final TokenRanges.Range gateRows = this::gateRows;  // steps 1-2 on a token range (no lambda per call)
    private float[] callLogits;                 // the running call's logits, read by gateRows

    /**
     * Runs independent per-token work over token ranges, possibly on several threads (an engine
     * passes its thread team): {@link #run} returns once {@code body} has covered [0, n) exactly
     * once. {@link #SERIAL} runs it on the caller.
     */
    @FunctionalInterface
    public interface TokenRanges {
        /** Covers [0, n) with {@code body}, each item about {@code workPerItem} multiply-adds of work (to size the ranges). */
        void run(int n, long workPerItem, Range body);

        /** Tokens [from, to). */
        @FunctionalInterface
        interface Range {
            void run(int from, int to);
        }

        TokenRanges SERIAL = (n, workPerItem, body) -> body.run(0, n);
    }

    /** Calls with fewer tokens (a decode step) run steps 1-2 on the caller, without {@link #ranges}. */
    static final int PARALLEL_TOKENS = 16;
    /** Steps 1-2 per token per expert, in multiply-adds' worth ({@link TokenRanges#run}'s sizing): an exp, a compare, stores. */
    private static final long GATE_WORK_PER_EXPERT = 64;
    /** Per thread: {@link #kth} and {@link #wide} for the token ranges {@link #gateRows} runs on a team's threads. */
    private static final ThreadLocal<float[][]> RANGE_SCRATCH = ThreadLocal.withInitial(() -> new float[][] {new float[0], new float[0]});

    /**
     * @param placement which device hosts each expert; {@code null} means one device holding all
     *                  experts. Its expert count must equal the config's.
     */
    public Router(RouterConfig config, Policy policy, Placement placement) {
        this(config, policy, placement, 0);
    }

    /**
     * As {@link #Router(RouterConfig, Policy, Placement)}, drawing {@code random} scores from
     * stream {@code stream} of the policy's seed (e.g. the layer index: without it every layer
     * would drop the same random positions).
     */
    public Router(RouterConfig config, Policy policy, Placement placement, long stream) {
        if (config == null) throw new IllegalArgumentException("router: config is missing");
        if (policy == null) throw new IllegalArgumentException("router: policy is missing (use Policy.None for plain top-k)");
        this.config = config;
        this.policy = policy;
        this.base = policy.capacityPolicy();
        this.layer = (int) stream;
        this.experts = config.experts();
        this.topK = config.topK();
        if (placement == null) placement = Placement.contiguous(experts, 1);
        if (placement.experts() != experts) {
            throw new IllegalArgumentException("placement covers " + placement.experts() + " experts but the router has "
                    + experts + " (E must match)");
        }
        if (policy.redundantReplicas() != placement.redundantSlots()) {
            throw new IllegalArgumentException("policy '" + policy.label() + "' asks for " + policy.redundantReplicas()
                    + " redundant replicas but the placement has " + placement.redundantSlots()
                    + (policy.redundantReplicas() > 0 ? " (place them with Eplb from a routing trace)" : ""));
        }
        this.placement = placement;
        // experts with a replica on each device, ascending, each once (expanded_origin's lists)
        this.deviceExperts = new int[placement.devices()][];
        int[][] replicas = placement.replicaDevices();  // a copy: taken once, not per expert and device
        for (int d = 0; d < placement.devices(); d++) {
            int n = 0;
            int[] list = new int[experts];
            for (int e = 0; e < experts; e++) {
                for (int r : replicas[e]) {
                    if (r == d) {
                        list[n++] = e;
                        break;
                    }
                }
            }
            deviceExperts[d] = Arrays.copyOf(list, n);
        }
        this.deviceSlots = placement.expertsPerDevice();
        if (base instanceof Policy.TokenDrop td && td.gamma() instanceof Gamma.PerLayer pl) pl.gammaOf(layer); // fail early, naming the file

        switch (base) {
            case Policy.ExpandedDrop x -> {
                localExperts = x.localExpertsFor(experts);
                for (int id : localExperts) {
                    if (id >= experts) {
                        throw new IllegalArgumentException("policy '" + policy.label() + "': local expert " + id
                                + " does not exist (E=" + experts + ", ids 0.." + (experts - 1) + ")");
                    }
                }
                extras = localExperts.length;
            }
            case Policy.ExpandedOrigin x -> {
                localExperts = null;
                extras = Math.min(x.extrasFor(topK), experts);
            }
            default -> {
                localExperts = null;
                extras = 0;
            }
        }
        long seed = base instanceof Policy.TokenDrop td ? td.seed() : 0L;
        this.randomSeed = seed + stream * 0x9E3779B97F4A7C15L; // golden-ratio step, as SplittableRandom's own
        this.random = new SplittableRandom(randomSeed);
        int nGroup = switch (config.gating()) {
            case Gating.Softmax s -> 1;
            case Gating.SoftmaxGroupLimited g -> g.nGroup();
            case Gating.SigmoidGroupLimited g -> g.nGroup();
        };
        this.sel = new float[experts];
        this.groupScore = new float[nGroup];
        this.groupIdx = new int[nGroup];
        this.kth = new float[Math.max(topK, nGroup)];
        this.wide = new float[experts + 64];
        this.count = new int[Math.max(experts, placement.devices())];
        this.offset = new int[Math.max(experts, placement.devices()) + 1];
        this.extraIdx = new int[Math.max(extras, 1)];
        this.chosen = new int[experts];
    }

    /**
     * Begins the random stream again: the next call routes exactly as the first call of a fresh
     * Router with the same arguments would (nothing else carries over between calls). An engine
     * that keeps one Router per layer, to reuse its scratch, restarts it before each call.
     */
    public void restart() {
        if (base instanceof Policy.TokenDrop td && td.scorer() == Scorer.RANDOM) random = new SplittableRandom(randomSeed);
    }

    public RouterConfig config() { return config; }
    public Policy policy() { return policy; }
    public Placement placement() { return placement; }

    /** Routes T tokens; router logits are row-major [tokens x experts]. Token t's origin device is t*D/T. */
    public Routing route(float[] routerLogits, int tokens) {
        return route(routerLogits, tokens, null);
    }

    /** As {@link #route(float[], int)}, with an explicit origin device per token (for expanded_origin). */
    public Routing route(float[] routerLogits, int tokens, int[] tokenOrigin) {
        checkShape("router logits", routerLogits, tokens);
        for (int i = 0, n = tokens * experts; i < n; i++) {
            float v = routerLogits[i];
            if (Float.isNaN(v) || v == Float.POSITIVE_INFINITY) {
                throw new IllegalArgumentException("router logits: " + v + " at token " + i / experts + ", expert " + i % experts);
            }
        }
        grow(tokens);
        if (tokens >= PARALLEL_TOKENS && ranges != TokenRanges.SERIAL && config.gating() instanceof Gating.Softmax) {
            // steps 1-2 per token over the ranges: each token's softmax row and top-k are its own (same bits, any split)
            callLogits = routerLogits;
            try {
                ranges.run(tokens, GATE_WORK_PER_EXPERT * experts, gateRows);
            } finally {
                callLogits = null;
            }
            return routeScores(tokens, tokenOrigin, true);
        }
        GatingMath.scores(config.gating(), routerLogits, tokens, experts, scores);
        return routeScores(tokens, tokenOrigin, false);
    }

    /**
     * Where this Router runs the gate scores and top-k choice (steps 1-2) of calls of at least
     * {@link #PARALLEL_TOKENS} tokens with softmax gating: each token's row on its own, so any
     * split gives the same bits. Default {@link TokenRanges#SERIAL}. Returns this Router.
     */
    public Router tokenRanges(TokenRanges ranges) {
        this.ranges = java.util.Objects.requireNonNull(ranges, "ranges");
        return this;
    }

    /** Steps 1-2 for tokens [t0, t1) of the running call: softmax gate scores, then the top-k (softmax gating). */
    private void gateRows(int t0, int t1) {
        int e = experts, k = topK;
        GatingMath.scores(config.gating(), callLogits, t0, t1, e, scores);
        float[][] scratch = RANGE_SCRATCH.get();
        if (scratch[0].length < kth.length) scratch[0] = new float[kth.length];
        if (scratch[1].length < wide.length) scratch[1] = new float[wide.length];
        for (int t = t0; t < t1; t++) GatingMath.topKRow(scores, t * e, e, k, topIdx, t * k, scratch[0], scratch[1]);
    }

    /**
     * As {@link #route(float[], int, int[])} (the same bits), but what it returns is this Router's
     * own: the ownership of a reused {@link Routing} and {@link RoutingStats}, explained here once.
     * <ul>
     *   <li>The Router keeps one set of output arrays (offsets, expert ids, weights, the four
     *       loads), one {@link RoutingStats} and one {@link Routing} over them. Each
     *       {@code routeReusing} call refills them: the arrays while their lengths repeat (else new
     *       ones), the stats always (in place), the Routing while its token count and arrays are
     *       the same objects (else a new one over the kept stats).</li>
     *   <li>So a result is valid until this Router's next {@code routeReusing} call, and a caller
     *       keeps nothing of it past that: e.g. an engine's decode step with no routing listener,
     *       which then allocates nothing per call once the shapes repeat.</li>
     *   <li>{@link #route} and {@link #routeProbabilities} never touch them: their results are
     *       fresh objects and arrays, never overwritten.</li>
     * </ul>
     */
    public Routing routeReusing(float[] routerLogits, int tokens, int[] tokenOrigin) {
        reusing = true;
        try {
            return route(routerLogits, tokens, tokenOrigin);
        } finally {
            reusing = false;
        }
    }

    /**
     * Routes T tokens from gate probabilities already computed (row-major [tokens x experts], each
     * in [0, 1]: softmax probabilities, or sigmoid scores for DeepSeek-V3), e.g. the golden cases.
     * The top-k choice follows the config's gating (group limits, bias) on these scores.
     */
    public Routing routeProbabilities(float[] probs, int tokens, int[] tokenOrigin) {
        checkShape("probabilities", probs, tokens);
        for (int i = 0, n = tokens * experts; i < n; i++) {
            float v = probs[i];
            if (!(v >= 0f && v <= 1f)) {
                throw new IllegalArgumentException("probabilities: " + v + " at token " + i / experts + ", expert " + i % experts
                        + " is not in [0, 1]" + (Float.isNaN(v) ? " (NaN)" : ""));
            }
        }
        grow(tokens);
        System.arraycopy(probs, 0, scores, 0, tokens * experts);
        return routeScores(tokens, tokenOrigin, false);
    }

    private void checkShape(String what, float[] values, int tokens) {
        if (tokens < 0) throw new IllegalArgumentException(what + ": token count " + tokens + " is negative");
        if (values == null) throw new IllegalArgumentException(what + ": missing");
        if ((long) tokens * experts != values.length) {
            throw new IllegalArgumentException(what + ": " + values.length + " values, expected tokens x experts = "
                    + tokens + " x " + experts + " = " + (long) tokens * experts);
        }
    }

    private void grow(int tokens) {
        int n = tokens * experts;
        if (scores.length < n) scores = new float[n];
        int nk = tokens * topK;
        if (topIdx.length < nk) topIdx = new int[nk];
        if (candOff.length < tokens + 1) candOff = new int[tokens + 1];
        int nc = tokens * (topK + extras);
        if (candExpert.length < nc) {
            candToken = new int[nc];
            candExpert = new int[nc];
            candScore = new float[nc];
            keep = new boolean[nc];
            pairs = new int[nc];
            keys = new long[nc];
        }
    }

    /** Steps 2-5 on {@link #scores} ({@code selected}: step 2's {@link #topIdx} is already filled, by {@link #gateRows}). */
    private Routing routeScores(int tokens, int[] tokenOrigin, boolean selected) {
        int k = topK, E = experts;
        if (base instanceof Policy.ExpandedOrigin && tokenOrigin != null) {
            if (tokenOrigin.length != tokens) {
                throw new IllegalArgumentException("token origins: " + tokenOrigin.length + " values for " + tokens + " tokens");
            }
            for (int t = 0; t < tokens; t++) {
                if (tokenOrigin[t] < 0 || tokenOrigin[t] >= placement.devices()) {
                    throw new IllegalArgumentException("token origin of token " + t + " is device " + tokenOrigin[t]
                            + ", outside 0.." + (placement.devices() - 1));
                }
            }
        }

        if (!selected) GatingMath.select(config.gating(), scores, tokens, E, k, topIdx, sel, groupScore, groupIdx, kth, wide);

        // candidates, CSR by token: the top-k first (best first), then the Expanded Drop extras
        int n = 0;
        for (int t = 0; t < tokens; t++) {
            candOff[t] = n;
            int row = t * E;
            for (int j = 0; j < k; j++) {
                int e = topIdx[t * k + j];
                candToken[n] = t;
                candExpert[n] = e;
                candScore[n] = scores[row + e];
                keep[n++] = true;
            }
            if (localExperts != null) {
                markTopK(t);
                for (int e : localExperts) {
                    if (inTopK(e)) continue;
                    candToken[n] = t;
                    candExpert[n] = e;
                    candScore[n] = scores[row + e];
                    keep[n++] = true;
                }
            } else if (extras > 0) {
                int origin = tokenOrigin != null ? tokenOrigin[t]
                        : (int) ((long) t * placement.devices() / Math.max(tokens, 1));
                markTopK(t);
                int m = originExtras(t, deviceExperts[origin]);
                for (int j = 0; j < m; j++) {
                    int e = extraIdx[j];
                    candToken[n] = t;
                    candExpert[n] = e;
                    candScore[n] = scores[row + e];
                    keep[n++] = true;
                }
            }
        }
        candOff[tokens] = n;

        int[] loadBefore = reusing ? (outLoadBefore = zeroed(outLoadBefore, E)) : new int[E];
        for (int i = 0, nk = tokens * k; i < nk; i++) loadBefore[topIdx[i]]++;

        int capacity;
        switch (base) {
            case Policy.None p -> capacity = PolicySpec.capacity(1.0, 0, k, tokens, E);
            case Policy.TokenDrop p -> {
                capacity = switch (p.gamma()) {
                    case Gamma.Fixed g -> PolicySpec.capacity(g.value(), p.minCapacity(), k, tokens, E);
                    case Gamma.PerLayer g -> PolicySpec.capacity(g.gammaOf(layer), p.minCapacity(), k, tokens, E);
                    case Gamma.Auto g -> Math.min(Math.max(massCapacity(n, g.mass()), p.minCapacity()), tokens);
                };
                perExpertCapacity(n, capacity, p.scorer());
            }
            case Policy.ExpandedDrop p -> {
                capacity = PolicySpec.capacity(p.gamma(), 0, k, tokens, E);
                perExpertCapacity(n, capacity, Scorer.SCORE);
            }
            case Policy.ExpandedOrigin p -> {
                capacity = PolicySpec.capacity(p.gamma(), 0, k, tokens, E);
                perExpertCapacity(n, capacity, Scorer.SCORE);
            }
            case Policy.DeviceCapacity p -> {
                capacity = PolicySpec.capacity(p.gamma(), 0, k, tokens, E);
                perDeviceCapacity(n, capacity);
            }
            case Policy.ExpertDrop p -> {
                capacity = PolicySpec.capacity(1.0, 0, k, tokens, E);
                expertDrop(n, p.rho(), loadBefore);
            }
            case Policy.Replicated p -> throw new AssertionError("unwrapped in the constructor");
        }
        return output(tokens, loadBefore, capacity);
    }

    /**
     * {@link Gamma.Auto}: the smallest C such that Token Drop by score drops at most
     * {@code mass} of the call's top-k score mass. Expert e's pairs sorted by score, best first,
     * s_e,1 >= s_e,2 >= ...; {@code atRank[i]} = sum over experts of s_e,i+1; the mass dropped at C is
     * the tail sum of atRank from C on (double, fixed order), non-increasing in C.
     */
    private int massCapacity(int n, double mass) {
        int E = experts;
        Arrays.fill(count, 0, E, 0);
        int max = 0;
        for (int p = 0; p < n; p++) max = Math.max(max, ++count[candExpert[p]]);
        bucket(n, E, false);
        double[] atRank = new double[max];
        float[] s = new float[max];
        double total = 0;
        for (int e = 0; e < E; e++) {
            int base0 = offset[e], size = offset[e + 1] - base0;
            for (int i = 0; i < size; i++) s[i] = candScore[pairs[base0 + i]];
            Arrays.sort(s, 0, size);
            for (int i = 0; i < size; i++) atRank[i] += s[size - 1 - i];
        }
        for (int i = 0; i < max; i++) total += atRank[i];
        double budget = mass * total, tail = 0;
        int c = max;
        while (c > 0 && tail + atRank[c - 1] <= budget) tail += atRank[--c];
        return c;
    }

    /** Marks token t's top-k in {@code chosen} (a stamp per token avoids clearing it). */
    private void markTopK(int t) {
        if (++stamp == Integer.MAX_VALUE) {
            Arrays.fill(chosen, 0);
            stamp = 1;
        }
        for (int j = 0, base = t * topK; j < topK; j++) chosen[topIdx[base + j]] = stamp;
    }

    private boolean inTopK(int e) { return chosen[e] == stamp; }

    /** The m highest-scored experts of the origin device not already in the token's top-k, into extraIdx. */
    private int originExtras(int t, int[] deviceList) {
        int m = 0, row = t * experts;
        for (int e : deviceList) {
            if (inTopK(e)) continue;
            float x = scores[row + e];
            if (m == extras && !(x > scores[row + extraIdx[m - 1]])) continue;
            int pos = m < extras ? m++ : m - 1;
            while (pos > 0 && x > scores[row + extraIdx[pos - 1]]) {
                extraIdx[pos] = extraIdx[pos - 1];
                pos--;
            }
            extraIdx[pos] = e;
        }
        return m;
    }

    /** Token Drop / Expanded Drop: an expert with more than C candidates keeps C, chosen by the scorer. */
    private void perExpertCapacity(int n, int capacity, Scorer scorer) {
        int E = experts;
        Arrays.fill(count, 0, E, 0);
        int max = 0;
        for (int p = 0; p < n; p++) max = Math.max(max, ++count[candExpert[p]]);
        if (max <= capacity) return;
        bucket(n, E, false);
        for (int e = 0; e < E; e++) {
            int base = offset[e], size = offset[e + 1] - base;
            if (size <= capacity) continue;
            // pairs[base..) are in token order, since candidates are CSR by token
            switch (scorer) {
                case ORDER -> { for (int i = capacity; i < size; i++) keep[pairs[base + i]] = false; }
                case REVERSE -> { for (int i = 0; i < size - capacity; i++) keep[pairs[base + i]] = false; }
                case SCORE -> dropLowest(base, size, size - capacity);
                case RANDOM -> {
                    // partial Fisher-Yates: the first C slots become a uniform random C-subset
                    for (int i = 0; i < capacity; i++) {
                        int j = i + random.nextInt(size - i);
                        int tmp = pairs[base + i];
                        pairs[base + i] = pairs[base + j];
                        pairs[base + j] = tmp;
                    }
                    for (int i = capacity; i < size; i++) keep[pairs[base + i]] = false;
                }
            }
        }
    }

    /** Device-level capacity: device d with n_d expert slots (replicas) keeps its n_d*C best-scored pairs. */
    private void perDeviceCapacity(int n, int capacity) {
        int D = placement.devices();
        Arrays.fill(count, 0, D, 0);
        for (int p = 0; p < n; p++) count[placement.device(candToken[p], candExpert[p])]++;
        boolean over = false;
        for (int d = 0; d < D; d++) over |= count[d] > (long) deviceSlots[d] * capacity;
        if (!over) return;
        bucket(n, D, true);
        for (int d = 0; d < D; d++) {
            int base = offset[d], size = offset[d + 1] - base;
            long limit = (long) deviceSlots[d] * capacity;
            if (size > limit) dropLowest(base, size, (int) (size - limit));
        }
    }

    /** Baseline Expert Drop: the floor(rho*E) experts with the smallest top-k load are skipped. */
    private void expertDrop(int n, double rho, int[] loadBefore) {
        int E = experts;
        int drop = (int) Math.floor(rho * E);
        if (drop == 0) return;
        long[] byLoad = new long[E];
        for (int e = 0; e < E; e++) byLoad[e] = ((long) loadBefore[e] << 32) | e;
        Arrays.sort(byLoad);
        boolean[] dropped = new boolean[E];
        for (int i = 0; i < drop; i++) dropped[(int) byLoad[i]] = true;
        for (int p = 0; p < n; p++) if (dropped[candExpert[p]]) keep[p] = false;
    }

    /** Counting sort of candidate pairs by expert (or by device) into pairs[], token order kept. */
    private void bucket(int n, int buckets, boolean byDevice) {
        offset[0] = 0;
        for (int b = 0; b < buckets; b++) offset[b + 1] = offset[b] + count[b];
        for (int b = 0; b < buckets; b++) count[b] = offset[b];
        for (int p = 0; p < n; p++) {
            int b = byDevice ? placement.device(candToken[p], candExpert[p]) : candExpert[p];
            pairs[count[b]++] = p;
        }
    }

    /**
     * Drops the {@code drop} lowest-scored pairs of pairs[base..base+size). Keys pack the score's
     * order-preserving bits above the inverted pair index, so one primitive sort ranks by score
     * and, on equal scores, keeps the earlier token; a selection (not a full sort) finds them.
     */
    private void dropLowest(int base, int size, int drop) {
        for (int i = 0; i < size; i++) {
            int p = pairs[base + i];
            int bits = Float.floatToIntBits(candScore[p]);
            bits ^= (bits >> 31) & 0x7FFFFFFF; // negative floats: flip to keep the order
            keys[i] = ((long) bits << 32) | (Integer.MAX_VALUE - p);
        }
        Select.smallestFirst(keys, size, drop);
        for (int i = 0; i < drop; i++) keep[Integer.MAX_VALUE - (int) keys[i]] = false;
    }

    /** {@code kept} cleared when it has n elements, else a new array of n (routeReusing's output arrays). */
    private static int[] zeroed(int[] kept, int n) {
        if (kept.length != n) return new int[n];
        Arrays.fill(kept, 0);
        return kept;
    }

    private Routing output(int tokens, int[] loadBefore, int capacity) {
        int E = experts;
        int[] offsets = reusing ? (outOffsets = zeroed(outOffsets, tokens + 1)) : new int[tokens + 1];
        int kept = 0;
        for (int t = 0; t < tokens; t++) {
            offsets[t] = kept;
            for (int p = candOff[t]; p < candOff[t + 1]; p++) if (keep[p]) kept++;
        }
        offsets[tokens] = kept;

        int[] expertIds = reusing ? (outExpertIds = zeroed(outExpertIds, kept)) : new int[kept];
        float[] weights = !reusing ? new float[kept] : outWeights.length == kept ? outWeights : (outWeights = new float[kept]);
        int[] loadAfter = reusing ? (outLoadAfter = zeroed(outLoadAfter, E)) : new int[E];
        long dropped = 0, added = 0;
        double scoreBefore = 0, scoreDropped = 0;
        int empty = 0;
        int D = placement.devices();
        int[] devBefore = reusing ? (outDevBefore = zeroed(outDevBefore, D)) : new int[D];
        int[] devAfter = reusing ? (outDevAfter = zeroed(outDevAfter, D)) : new int[D];
        float eps = config.gating() instanceof Gating.SigmoidGroupLimited ? 1e-20f : 0f;
        float scale = (float) config.routedScalingFactor();
        for (int t = 0; t < tokens; t++) {
            int o = offsets[t], end = o;
            float sum = 0f;
            for (int p = candOff[t]; p < candOff[t + 1]; p++) {
                boolean extra = p - candOff[t] >= topK;
                if (!extra) {
                    scoreBefore += candScore[p];
                    devBefore[placement.device(t, candExpert[p])]++;
                }
                if (!keep[p]) {
                    if (!extra) {
                        dropped++;
                        scoreDropped += candScore[p];
                    }
                    continue;
                }
                if (extra) added++;
                int e = candExpert[p];
                float w = candScore[p];
                sum += w;
                // insertion by expert id: a token has a handful of pairs
                int pos = end++;
                while (pos > o && expertIds[pos - 1] > e) {
                    expertIds[pos] = expertIds[pos - 1];
                    weights[pos] = weights[pos - 1];
                    pos--;
                }
                expertIds[pos] = e;
                weights[pos] = w;
                loadAfter[e]++;
                devAfter[placement.device(t, e)]++;
            }
            if (end == o) empty++;
            if (config.normTopkProb()) {
                float denom = sum + eps;
                for (int i = o; i < end; i++) weights[i] = weights[i] / denom * scale;
            } else {
                for (int i = o; i < end; i++) weights[i] = weights[i] * scale;
            }
        }
        if (!reusing) {
            return new Routing(tokens, E, offsets, expertIds, weights, new RoutingStats(capacity, loadBefore, loadAfter,
                    devBefore, devAfter, dropped, added, empty, scoreBefore, scoreDropped));
        }
        if (outStats == null) {
            outStats = new RoutingStats(capacity, loadBefore, loadAfter, devBefore, devAfter, dropped, added, empty, scoreBefore, scoreDropped);
        } else {
            outStats.set(capacity, loadBefore, loadAfter, devBefore, devAfter, dropped, added, empty, scoreBefore, scoreDropped);
        }
        Routing r = outRouting;
        if (r == null || r.tokens() != tokens || r.offsets() != offsets || r.expertIds() != expertIds || r.weights() != weights) {
            outRouting = r = new Routing(tokens, E, offsets, expertIds, weights, outStats);
        }
        return r;
    }
}
