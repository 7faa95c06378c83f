package capmoe.routing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Where Token Drop's capacity factor comes from: one fixed γ (the paper), one γ per MoE layer
 * fitted on a routing trace, or a capacity chosen per call from the call's own gate scores. The
 * capacity of a call is then {@code C = ceil(γ·k·(T/E))} ({@link Fixed}, {@link PerLayer}) or the
 * smallest C whose dropped score mass stays within a budget ({@link Auto}); {@link Router} applies
 * {@code min_capacity} and the clamp {@code C <= T} after either.
 */
public sealed interface Gamma permits Gamma.Fixed, Gamma.Auto, Gamma.PerLayer {

    /** The spec text after {@code scorer@}: {@code 1.5}, {@code auto:mass=0.02}, {@code layers:FILE}. */
    String label();

    /** The paper's capacity factor: the same γ for every call. */
    record Fixed(double value) implements Gamma {
        public Fixed { PolicySpec.checkGamma(value, "capacity factor"); }

        public String label() { return PolicySpec.num(value); }
    }

    /**
     * Capacity chosen per call (per batch, per layer) from the call's own load: the smallest C such
     * that the gate-score mass Token Drop (by score) would drop, divided by the mass of all top-k
     * pairs of the call, is at most {@code mass}. Computed exactly: with s_e,1 >= s_e,2 >= ... the
     * scores of expert e's pairs, dropped(C) = sum over e of sum over i > C of s_e,i, which only
     * falls as C grows. {@code mass = 0} keeps every pair (C = the largest expert load).
     */
    record Auto(double mass) implements Gamma {
        public Auto {
            if (!(mass >= 0 && mass < 1)) throw new IllegalArgumentException("auto: mass= must be in [0, 1) (got " + mass + ")");
        }

        public String label() { return "auto:mass=" + PolicySpec.num(mass); }
    }

    /**
     * One γ per MoE layer (decoder layer index, as the engine numbers them), read from a text file
     * that {@code ./capmoe simulate --fit-gamma} writes: one {@code LAYER GAMMA} pair per line,
     * {@code #} starts a comment. A layer the file does not list is an error when it is routed.
     *
     * @param source the file, as given in the spec (printed back by {@link #label()})
     * @param layers layer indices, ascending, no repeats
     * @param gammas γ of each listed layer
     */
    record PerLayer(String source, int[] layers, double[] gammas) implements Gamma {
        public PerLayer {
            if (layers.length != gammas.length) throw new IllegalArgumentException("per-layer gamma: " + layers.length + " layers, " + gammas.length + " gammas");
            if (layers.length == 0) throw new IllegalArgumentException("per-layer gamma " + source + ": no layers listed");
            layers = layers.clone();
            gammas = gammas.clone();
            for (int i = 0; i < layers.length; i++) {
                if (i > 0 && layers[i] <= layers[i - 1]) {
                    throw new IllegalArgumentException("per-layer gamma " + source + ": layers must be listed once each, ascending (layer "
                            + layers[i] + " after " + layers[i - 1] + ")");
                }
                PolicySpec.checkGamma(gammas[i], "per-layer gamma " + source + ", layer " + layers[i]);
            }
        }

        /** γ of one layer; throws naming the file when the layer is not listed. */
        public double gammaOf(int layer) {
            int i = Arrays.binarySearch(layers, layer);
            if (i < 0) {
                throw new IllegalArgumentException("per-layer gamma " + source + " has no gamma for layer " + layer
                        + " (it lists layers " + Arrays.toString(layers) + ")");
            }
            return gammas[i];
        }

        public String label() { return "layers:" + source; }

        @Override public int[] layers() { return layers.clone(); }
        @Override public double[] gammas() { return gammas.clone(); }

        @Override public boolean equals(Object o) {
            return o instanceof PerLayer p && p.source.equals(source) && Arrays.equals(p.layers, layers) && Arrays.equals(p.gammas, gammas);
        }

        @Override public int hashCode() { return source.hashCode() * 31 + Arrays.hashCode(gammas); }

        @Override public String toString() { return "PerLayer[" + source + ", layers=" + Arrays.toString(layers) + ", gammas=" + Arrays.toString(gammas) + "]"; }

        /** Reads {@code LAYER GAMMA} lines; every malformed line is named with the file and line number. */
        public static PerLayer read(Path file) {
            List<String> lines;
            try {
                lines = Files.readAllLines(file);
            } catch (NoSuchFileException e) {
                throw new IllegalArgumentException("per-layer gamma file " + file + ": no such file");
            } catch (IOException e) {
                throw new IllegalArgumentException("per-layer gamma file " + file + ": cannot read (" + e.getMessage() + ")");
            }
            int[] layers = new int[lines.size()];
            double[] gammas = new double[lines.size()];
            int n = 0;
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i);
                int hash = line.indexOf('#');
                if (hash >= 0) line = line.substring(0, hash);
                line = line.strip();
                if (line.isEmpty()) continue;
                String[] f = line.split("\\s+");
                String where = "per-layer gamma file " + file + ", line " + (i + 1);
                if (f.length != 2) throw new IllegalArgumentException(where + ": expected 'LAYER GAMMA', got '" + line + "'");
                try {
                    layers[n] = Integer.parseInt(f[0]);
                    gammas[n] = Double.parseDouble(f[1]);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(where + ": expected 'LAYER GAMMA' numbers, got '" + line + "'");
                }
                if (n > 0 && layers[n] <= layers[n - 1]) {
                    throw new IllegalArgumentException(where + ": layer " + layers[n] + " comes after layer " + layers[n - 1]
                            + " (list each layer once, ascending)");
                }
                if (!(gammas[n] > 0)) throw new IllegalArgumentException(where + ": gamma must be > 0 (got " + f[1] + ")");
                n++;
            }
            if (n == 0) throw new IllegalArgumentException("per-layer gamma file " + file + " lists no layers");
            return new PerLayer(file.toString(), Arrays.copyOf(layers, n), Arrays.copyOf(gammas, n));
        }

        /** The file's text: a comment line, then {@code LAYER GAMMA} per line. */
        public static String format(String comment, int[] layers, double[] gammas) {
            StringBuilder sb = new StringBuilder("# ").append(comment.replace("\n", " ")).append('\n');
            for (int i = 0; i < layers.length; i++) sb.append(layers[i]).append(' ').append(String.format(Locale.ROOT, "%s", PolicySpec.num(gammas[i]))).append('\n');
            return sb.toString();
        }
    }
}
