package capmoe.eval;

import java.util.List;
import java.util.Locale;

/** Minimal inline SVG charts for the HTML report (no scripts, no external resources). */
final class Svg {
    private Svg() { }

    record Series(String name, List<double[]> points) { }

    record Point(String label, double x, double y) { }

    private static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};
    private static final int W = 520, H = 320, L = 70, R = 130, T = 30, B = 50;

    /** Lines of (x, y) per series, with an optional dashed horizontal reference line. */
    static String lines(String title, String xLabel, String yLabel, List<Series> series, double reference, String refLabel) {
        double x0 = Double.MAX_VALUE, x1 = -Double.MAX_VALUE, y0 = Double.MAX_VALUE, y1 = -Double.MAX_VALUE;
        for (Series s : series) {
            for (double[] p : s.points()) {
                x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]);
                y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]);
            }
        }
        if (!Double.isNaN(reference)) { y0 = Math.min(y0, reference); y1 = Math.max(y1, reference); }
        Frame f = new Frame(x0, x1, y0, y1);
        StringBuilder sb = f.open(title, xLabel, yLabel);
        if (!Double.isNaN(reference)) {
            sb.append(String.format(Locale.ROOT, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#555' stroke-dasharray='5,4'/>"
                    + "<text x='%d' y='%.1f' font-size='11' text-anchor='end' fill='#555'>%s</text>", L, W - R, f.py(reference),
                    f.py(reference), W - R - 4, f.py(reference) - 4, esc(refLabel)));
        }
        for (int i = 0; i < series.size(); i++) {
            Series s = series.get(i);
            String color = COLORS[i % COLORS.length];
            StringBuilder path = new StringBuilder();
            for (double[] p : s.points()) {
                path.append(path.isEmpty() ? "" : " ").append(String.format(Locale.ROOT, "%.1f,%.1f", f.px(p[0]), f.py(p[1])));
                sb.append(String.format(Locale.ROOT, "<circle cx='%.1f' cy='%.1f' r='3.5' fill='%s'><title>%s %s: %s</title></circle>",
                        f.px(p[0]), f.py(p[1]), color, esc(s.name()), num(p[0]), num(p[1])));
            }
            sb.append("<polyline fill='none' stroke-width='2' stroke='").append(color).append("' points='").append(path).append("'/>");
            sb.append(String.format(Locale.ROOT, "<text x='%d' y='%d' font-size='12' fill='%s'>%s</text>", W - R + 6, T + 14 + 16 * i,
                    color, esc(s.name())));
        }
        return sb.append("</svg>").toString();
    }

    /** Labelled points. */
    static String scatter(String title, String xLabel, String yLabel, List<Point> points) {
        double x0 = Double.MAX_VALUE, x1 = -Double.MAX_VALUE, y0 = Double.MAX_VALUE, y1 = -Double.MAX_VALUE;
        for (Point p : points) {
            x0 = Math.min(x0, p.x()); x1 = Math.max(x1, p.x());
            y0 = Math.min(y0, p.y()); y1 = Math.max(y1, p.y());
        }
        Frame f = new Frame(x0, x1, y0, y1);
        StringBuilder sb = f.open(title, xLabel, yLabel);
        for (int i = 0; i < points.size(); i++) {
            Point p = points.get(i);
            sb.append(String.format(Locale.ROOT, "<circle cx='%.1f' cy='%.1f' r='4' fill='%s'/><text x='%.1f' y='%.1f' font-size='11'>%s</text>",
                    f.px(p.x()), f.py(p.y()), COLORS[i % COLORS.length], f.px(p.x()) + 6, f.py(p.y()) - 5, esc(p.label())));
        }
        return sb.append("</svg>").toString();
    }

    /** Axes with padded ranges and five ticks each. */
    private record Frame(double x0, double x1, double y0, double y1) {
        Frame {
            if (x1 - x0 < 1e-12) { x0 -= 0.5; x1 += 0.5; }
            if (y1 - y0 < 1e-12) { double d = Math.max(Math.abs(y0) * 0.05, 1e-3); y0 -= d; y1 += d; }
            double px = (x1 - x0) * 0.05, py = (y1 - y0) * 0.08;
            x0 -= px; x1 += px; y0 -= py; y1 += py;
        }

        double px(double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); }

        double py(double y) { return H - B - (y - y0) / (y1 - y0) * (H - T - B); }

        StringBuilder open(String title, String xLabel, String yLabel) {
            StringBuilder sb = new StringBuilder();
            sb.append(String.format(Locale.ROOT, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' viewBox='0 0 %d %d' "
                    + "font-family='sans-serif'><rect width='100%%' height='100%%' fill='white'/>", W, H, W, H));
            sb.append(String.format(Locale.ROOT, "<text x='%d' y='18' font-size='14' font-weight='bold'>%s</text>", L, esc(title)));
            sb.append(String.format(Locale.ROOT, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='black'/>", L, H - B, W - R, H - B));
            sb.append(String.format(Locale.ROOT, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='black'/>", L, T, L, H - B));
            for (int i = 0; i <= 4; i++) {
                double x = x0 + (x1 - x0) * i / 4, y = y0 + (y1 - y0) * i / 4;
                sb.append(String.format(Locale.ROOT, "<text x='%.1f' y='%d' font-size='10' text-anchor='middle'>%s</text>", px(x), H - B + 14, num(x)));
                sb.append(String.format(Locale.ROOT, "<text x='%d' y='%.1f' font-size='10' text-anchor='end'>%s</text>", L - 4, py(y) + 3, num(y)));
                sb.append(String.format(Locale.ROOT, "<line x1='%d' x2='%d' y1='%.1f' y2='%.1f' stroke='#eee'/>", L + 1, W - R, py(y), py(y)));
            }
            sb.append(String.format(Locale.ROOT, "<text x='%d' y='%d' font-size='12' text-anchor='middle'>%s</text>", (L + W - R) / 2, H - 12, esc(xLabel)));
            sb.append(String.format(Locale.ROOT, "<text x='14' y='%d' font-size='12' text-anchor='middle' transform='rotate(-90 14 %d)'>%s</text>",
                    (T + H - B) / 2, (T + H - B) / 2, esc(yLabel)));
            return sb;
        }
    }

    static String num(double v) {
        double a = Math.abs(v);
        if (a >= 1000) return String.format(Locale.ROOT, "%.0f", v);
        if (a >= 10) return String.format(Locale.ROOT, "%.1f", v);
        return String.format(Locale.ROOT, "%.3f", v);
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;").replace("\"", "&quot;");
    }
}
