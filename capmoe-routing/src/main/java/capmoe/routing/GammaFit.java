package capmoe.routing;

import java.util.List;
import java.util.Locale;

/**
 * Per-layer capacity factors from recorded routing (the paper's future work: an adaptive γ).
 * For one MoE layer and the router logits of its recorded calls, tries Token Drop by score at
 * γ = step, 2·step, ... up to the first γ at which no call drops anything, and picks one by a
 * {@link Rule}:
 * <ol>
 *   <li>{@link Rule.Mass}{@code (ε)}: the SMALLEST γ whose dropped gate-score mass, summed over the
 *       layer's calls, is at most ε of their top-k mass (drop as much as the budget allows);</li>
 *   <li>{@link Rule.MaxMean}{@code (target)}: the LARGEST γ whose device max/mean load after the
 *       policy, {@code sum over calls of max device load / sum of mean device load}, is at most the
 *       target (drop as little as reaches the balance). Smaller γ balances more, so "smallest γ
 *       meeting a balance target" would always be the grid's first point; the largest is the one
 *       that meets the target at the least cost. When no γ reaches it, the most balanced γ is
 *       taken (the smallest on ties) and {@link Choice#reached()} is false.</li>
 * </ol>
 * {@link Gamma.PerLayer#format} writes the choices as the file {@code score@layers:FILE} reads.
 */
public final class GammaFit {
    private GammaFit() { }

    /** How to choose a layer's γ. */
    public sealed interface Rule permits Rule.Mass, Rule.MaxMean {
        String label();

        /** Smallest γ with dropped score mass ≤ epsilon of the top-k mass. */
        record Mass(double epsilon) implements Rule {
            public Mass {
                if (!(epsilon >= 0 && epsilon < 1)) throw new IllegalArgumentException("fit rule mass=" + epsilon + ": must be in [0, 1)");
            }

            public String label() { return "mass=" + PolicySpec.num(epsilon); }
        }

        /** Largest γ with device max/mean ≤ target. */
        record MaxMean(double target) implements Rule {
            public MaxMean {
                if (!(target >= 1) || Double.isInfinite(target)) throw new IllegalArgumentException("fit rule maxmean=" + target + ": must be a number >= 1");
            }

            public String label() { return "maxmean=" + PolicySpec.num(target); }
        }

        /** {@code mass=0.02} or {@code maxmean=1.5}. */
        static Rule parse(String spec) {
            String s = spec == null ? "" : spec.strip();
            int eq = s.indexOf('=');
            String key = eq < 0 ? s : s.substring(0, eq);
            double v;
            try {
                v = Double.parseDouble(eq < 0 ? "" : s.substring(eq + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("fit rule '" + spec + "': expected mass=EPSILON or maxmean=TARGET");
            }
            return switch (key) {
                case "mass" -> new Mass(v);
                case "maxmean" -> new MaxMean(v);
                default -> throw new IllegalArgumentException("fit rule '" + spec + "': expected mass=EPSILON or maxmean=TARGET");
            };
        }
    }

    /**
     * One layer's choice and what it does on the calls it was fitted on.
     *
     * @param maxOverMean       sum of max device load / sum of mean device load at {@code gamma}
     * @param droppedScore      dropped score mass / top-k score mass at {@code gamma}
     * @param droppedFraction   dropped pairs / top-k pairs at {@code gamma}
     * @param reached           whether the rule's bound holds at {@code gamma}
     */
    public record Choice(int layer, double gamma, double maxOverMean, double droppedScore, double droppedFraction, boolean reached) {
        public String describe() {
            return String.format(Locale.ROOT, "layer %d: gamma %s, device max/mean %.2f, dropped %.1f%% of pairs, %.2f%% of score mass%s",
                    layer, PolicySpec.num(gamma), maxOverMean, 100 * droppedFraction, 100 * droppedScore, reached ? "" : " (target not reached)");
        }
    }

    /** A recorded call: router logits [tokens x experts]. */
    public record Call(float[] logits, int tokens) { }

    /**
     * Fits one layer.
     *
     * @param step grid spacing of γ (e.g. 0.05)
     */
    public static Choice fit(RouterConfig config, Placement placement, int layer, List<Call> calls, Rule rule, double step) {
        if (calls.isEmpty()) throw new IllegalArgumentException("fit: layer " + layer + " has no recorded calls");
        if (!(step > 0) || Double.isInfinite(step)) throw new IllegalArgumentException("fit: gamma step must be > 0 (got " + step + ")");
        // the grid ends where every call keeps every pair: C >= max expert load, i.e. gamma >= maxLoad * E / (k * T)
        double top = step;
        Router plain = new Router(config, new Policy.None(), placement, layer);
        for (Call c : calls) {
            if (c.tokens() == 0) continue;
            RoutingStats s = plain.route(c.logits(), c.tokens()).stats();
            top = Math.max(top, (double) s.maxExpertLoadBefore() * config.experts() / ((double) config.topK() * c.tokens()));
        }
        int points = (int) Math.ceil(top / step - 1e-9);
        Choice[] grid = new Choice[points];
        for (int j = 1; j <= points; j++) grid[j - 1] = evaluate(config, placement, layer, calls, rule, Math.rint(j * step * 1e9) / 1e9);
        switch (rule) {
            case Rule.Mass m -> {
                for (Choice c : grid) if (c.reached()) return c;
                return grid[points - 1]; // nothing dropped at the last point: always reached
            }
            case Rule.MaxMean m -> {
                for (int j = points - 1; j >= 0; j--) if (grid[j].reached()) return grid[j];
                Choice best = grid[0];
                for (Choice c : grid) if (c.maxOverMean() < best.maxOverMean()) best = c;
                return best;
            }
        }
    }

    /** Token Drop by score at γ over the layer's calls. */
    public static Choice evaluate(RouterConfig config, Placement placement, int layer, List<Call> calls, Rule rule, double gamma) {
        Router r = new Router(config, new Policy.TokenDrop(Scorer.SCORE, gamma), placement, layer);
        long sumMax = 0, kept = 0, before = 0, dropped = 0;
        double mass = 0, massDropped = 0;
        for (Call c : calls) {
            RoutingStats s = r.route(c.logits(), c.tokens()).stats();
            sumMax += s.maxDeviceLoadAfter();
            kept += s.pairsAfter();
            before += s.pairsBefore();
            dropped += s.droppedPairs();
            mass += s.scoreBefore();
            massDropped += s.scoreDropped();
        }
        double maxOverMean = kept == 0 ? 0 : (double) sumMax * placement.devices() / kept;
        double droppedScore = mass == 0 ? 0 : massDropped / mass;
        boolean reached = switch (rule) {
            case Rule.Mass m -> droppedScore <= m.epsilon();
            case Rule.MaxMean m -> maxOverMean <= m.target();
        };
        return new Choice(layer, gamma, maxOverMean, droppedScore, before == 0 ? 0 : (double) dropped / before, reached);
    }
}
