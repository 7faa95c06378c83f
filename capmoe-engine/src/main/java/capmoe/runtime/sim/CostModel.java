package capmoe.runtime.sim;

import capmoe.runtime.Experts;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Time of one expert's grouped matmul as a function of its rows: a + b*rows (a: the fixed cost of
 * touching an expert's weights and launching its matmuls; b: the cost per row). A device runs its
 * active experts one after another, so its time is the sum over its experts with rows > 0.
 *
 * @param a seconds per active expert
 * @param b seconds per row
 */
public record CostModel(double a, double b) {

    public CostModel {
        if (!(a >= 0) || !(b > 0)) throw new IllegalArgumentException("cost model needs a >= 0 and b > 0 (got a=" + a + ", b=" + b + ")");
    }

    /** One measured point of a calibration. */
    /**
     * One calibration point: {@code seconds} = the median of the repeats (what the fit uses),
     * {@code min}..{@code max} = the lowest and highest repeat (the machine's noise).
     */
    public record Point(int rows, double seconds, double min, double max) {
        /** A point without a measured range (e.g. given by hand). */
        public Point(int rows, double seconds) {
            this(rows, seconds, seconds, seconds);
        }
    }

    /** A fitted model and the measurements it came from. */
    public record Calibration(CostModel model, List<Point> points) {

        /** The fit's spread: the largest |fit - median| / median over the points. */
        public double maxRelativeError() {
            double worst = 0;
            for (Point p : points) worst = Math.max(worst, Math.abs(model.expertSeconds(p.rows()) - p.seconds()) / p.seconds());
            return worst;
        }

        /** Whether a point with more rows took less time than one with fewer (noise the output must mention). */
        public boolean nonMonotonic() {
            for (int i = 1; i < points.size(); i++) if (points.get(i).seconds() < points.get(i - 1).seconds()) return true;
            return false;
        }
    }

    public double expertSeconds(int rows) {
        return rows == 0 ? 0 : a + b * rows;
    }

    /** A device's time: its active experts one after another. */
    public double deviceSeconds(int[] expertRows, int[] expertsOfDevice) {
        double s = 0;
        for (int e : expertsOfDevice) s += expertSeconds(expertRows[e]);
        return s;
    }

    /**
     * Times {@link Experts#apply} of expert 0 on random rows for each row count (best of
     * {@code repeats} after at least 20 calls and 0.2 s of warm-up, to keep JIT and cache noise
     * out) and fits a + b*rows by least squares.
     */
    public static Calibration calibrate(Experts experts, int[] rowCounts, int repeats) {
        if (rowCounts.length < 2) throw new IllegalArgumentException("calibration needs at least two row counts");
        int h = experts.hidden();
        SplittableRandom r = new SplittableRandom(1);
        List<Point> points = new ArrayList<>();
        for (int rows : rowCounts) {
            float[] x = new float[rows * h];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            float[] y = new float[rows * h];
            // warm-up until the JIT has compiled the kernels (interpreted Vector API code is ~100x slower)
            long warm = System.nanoTime();
            for (int k = 0; k < 20 || System.nanoTime() - warm < 200_000_000L; k++) experts.apply(0, x, y, rows);
            // the median of the repeats: robust to the other load on a shared machine in both directions
            long[] t = new long[Math.max(1, repeats)];
            for (int k = 0; k < t.length; k++) {
                long t0 = System.nanoTime();
                experts.apply(0, x, y, rows);
                t[k] = System.nanoTime() - t0;
            }
            java.util.Arrays.sort(t);
            double median = t.length % 2 == 1 ? t[t.length / 2] : (t[t.length / 2 - 1] + t[t.length / 2]) / 2.0;
            points.add(new Point(rows, median / 1e9, t[0] / 1e9, t[t.length - 1] / 1e9));
        }
        return new Calibration(fit(points), points);
    }

    /**
     * Fits a + b*rows minimising the squared RELATIVE error, so that a 1-row point (where the fixed
     * cost a shows) counts as much as a 256-row one; a is clamped at 0 (a negative intercept is noise).
     */
    public static CostModel fit(List<Point> points) {
        double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (Point p : points) {
            if (!(p.seconds() > 0)) throw new IllegalArgumentException("calibration point " + p + " has no positive time");
            double w = 1 / (p.seconds() * p.seconds());
            sw += w;
            sx += w * p.rows();
            sy += w * p.seconds();
            sxx += w * p.rows() * (double) p.rows();
            sxy += w * p.rows() * p.seconds();
        }
        double b = (sw * sxy - sx * sy) / (sw * sxx - sx * sx);
        double a = (sy - b * sx) / sw;
        if (a < 0) {
            a = 0;
            b = sxy / sxx;
        }
        if (!(b > 0)) throw new IllegalArgumentException("calibration failed: time does not grow with rows " + points);
        return new CostModel(a, b);
    }
}
