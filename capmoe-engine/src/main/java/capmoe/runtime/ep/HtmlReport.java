package capmoe.runtime.ep;

import capmoe.files.AtomicFile;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * A self-contained HTML page (inline SVG, no scripts, nothing fetched) showing the straggler
 * effect: per layer, the load of every expert as a heatmap before and after each policy, and per
 * layer the compute time of every device as bars, the slowest (the straggler) in red with the
 * others' idle time shaded.
 */
public final class HtmlReport {
    private HtmlReport() { }

    public static void write(Path file, String title, List<String> notes, List<PolicyRun> runs) {
        write(file, title, notes, runs, null);
    }

    /** @param speedups per run, the interleaved repeats' speedup ({@link EpReplay}); null = from the runs' times */
    public static void write(Path file, String title, List<String> notes, List<PolicyRun> runs, List<EpReplay.Speedup> speedups) {
        AtomicFile.writeString(file, render(title, notes, runs, speedups));
    }

    public static String render(String title, List<String> notes, List<PolicyRun> runs) {
        return render(title, notes, runs, null);
    }

    /** The page of an {@link EpBench} run: the same speedups and EP time per layer as its console table. */
    public static void write(Path file, String title, EpBench.Result r) {
        AtomicFile.writeString(file, render(title, r.notes(), r.runs(), r.speedups(),
                r.policies().stream().map(EpBench.PolicyResult::epSecondsPerLayer).toList()));
    }

    public static String render(String title, List<String> notes, List<PolicyRun> runs, List<EpReplay.Speedup> speedups) {
        return render(title, notes, runs, speedups, null);
    }

    /** @param epPerLayer per run, the EP seconds per layer call to show; null = from the runs' records */
    static String render(String title, List<String> notes, List<PolicyRun> runs, List<EpReplay.Speedup> speedups,
                         List<Double> epPerLayer) {
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").append(esc(title)).append("</title>\n<style>")
                .append("body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse}")
                .append("td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f4f4f4}")
                .append("h2{margin-top:32px}.note{color:#555;font-size:90%}svg text{font-size:10px;font-family:sans-serif}")
                .append("</style></head><body>\n<h1>").append(esc(title)).append("</h1>\n");
        for (String n : notes) h.append("<p class=\"note\">").append(esc(n)).append("</p>\n");
        if (runs.isEmpty()) return h.append("<p>No runs.</p></body></html>\n").toString();

        PolicyRun base = runs.get(0);
        double baseEp = base.summary().epSeconds();
        h.append("<h2>Summary</h2>\n<table><tr><th>policy</th><th>dropped %</th><th>device max/mean</th>")
                .append("<th>EP time / layer (ms)</th><th>speedup vs ").append(esc(base.policy())).append("</th>")
                .append(speedups == null ? "" : "<th>range over repeats</th>").append("<th>bound</th>")
                .append("<th>straggler idle (ms)</th></tr>\n");
        for (int i = 0; i < runs.size(); i++) {
            PolicyRun r = runs.get(i);
            EpStats.Summary s = r.summary();
            String speedup = speedups == null ? f("%.2f", baseEp / s.epSeconds())
                    : f("%.2f", speedups.get(i).median()) + "</td><td>" + f("%.2f", speedups.get(i).min()) + "&ndash;" + f("%.2f", speedups.get(i).max());
            h.append("<tr><td style=\"text-align:left\">").append(esc(r.policy())).append("</td><td>").append(f("%.2f", 100 * s.droppedFraction()))
                    .append("</td><td>").append(f("%.2f", s.maxOverMeanAfter())).append("</td><td>").append(f("%.3f", 1e3 * (epPerLayer == null ? s.epSecondsPerLayer() : epPerLayer.get(i))))
                    .append("</td><td>").append(speedup).append("</td><td>").append(f("%.2f", s.speedupBound()))
                    .append("</td><td>").append(f("%.1f", 1e3 * s.idleSeconds())).append("</td></tr>\n");
        }
        h.append("</table>\n");

        // one colour scale for every heatmap: load relative to the balanced load of that layer
        h.append("<h2>Load per expert per layer</h2>\n<p class=\"note\">Colour = pairs routed to the expert / the balanced share ")
                .append("(white = 0, yellow = balanced, dark red = 3x or more), summed over batches. Before = plain top-k.</p>\n");
        h.append(heatmap(base.policy() + ": before the policy (top-k)", base, false));
        for (PolicyRun r : runs) h.append(heatmap(r.policy() + ": after the policy", r, true));

        h.append("<h2>Per-device compute time per layer</h2>\n<p class=\"note\">Bars = each device's compute summed over batches; ")
                .append("red = the straggler of that layer; grey band = time the other devices wait for it.</p>\n");
        double maxSeconds = 0;
        for (PolicyRun r : runs) for (int l : r.layers()) for (double v : r.deviceSeconds(l)) maxSeconds = Math.max(maxSeconds, v);
        for (PolicyRun r : runs) h.append(deviceBars(r, maxSeconds));
        return h.append("</body></html>\n").toString();
    }

    private static String heatmap(String caption, PolicyRun run, boolean after) {
        int[] layers = run.layers();
        int experts = run.expertLoad(layers[0], after).length;
        int cell = Math.max(4, Math.min(14, 900 / Math.max(1, experts)));
        int left = 50, top = 18;
        int w = left + experts * cell + 10, hgt = top + layers.length * cell + 20;
        StringBuilder s = new StringBuilder("<h3>").append(esc(caption)).append("</h3>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"")
                .append(w).append("\" height=\"").append(hgt).append("\">\n");
        for (int li = 0; li < layers.length; li++) {
            long[] load = run.expertLoad(layers[li], after);
            long[] before = run.expertLoad(layers[li], false);
            long total = 0;
            for (long v : before) total += v;
            double balanced = Math.max(1e-9, (double) total / experts);
            s.append("<text x=\"2\" y=\"").append(top + li * cell + cell - 2).append("\">layer ").append(layers[li]).append("</text>\n");
            for (int e = 0; e < experts; e++) {
                double rel = load[e] / balanced;
                s.append("<rect x=\"").append(left + e * cell).append("\" y=\"").append(top + li * cell).append("\" width=\"").append(cell)
                        .append("\" height=\"").append(cell).append("\" fill=\"").append(color(rel)).append("\"><title>layer ")
                        .append(layers[li]).append(", expert ").append(e).append(": ").append(load[e]).append(" pairs (")
                        .append(f("%.2f", rel)).append("x balanced)</title></rect>\n");
            }
        }
        for (int e = 0; e < experts; e += Math.max(1, experts / 16)) {
            s.append("<text x=\"").append(left + e * cell).append("\" y=\"12\">").append(e).append("</text>\n");
        }
        return s.append("</svg>\n").toString();
    }

    private static String deviceBars(PolicyRun run, double maxSeconds) {
        int[] layers = run.layers();
        int devices = run.deviceSeconds(layers[0]).length;
        int bar = Math.max(3, Math.min(16, 400 / Math.max(1, devices))), gap = 12, height = 120, top = 10;
        int groupW = devices * bar + gap;
        int w = 60 + layers.length * groupW, hgt = top + height + 30;
        StringBuilder s = new StringBuilder("<h3>").append(esc(run.policy())).append("</h3>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"")
                .append(w).append("\" height=\"").append(hgt).append("\">\n");
        s.append("<text x=\"0\" y=\"").append(top + 8).append("\">").append(f("%.1f", maxSeconds * 1e3)).append(" ms</text>\n");
        s.append("<line x1=\"55\" y1=\"").append(top + height).append("\" x2=\"").append(w).append("\" y2=\"").append(top + height)
                .append("\" stroke=\"#888\"/>\n");
        for (int li = 0; li < layers.length; li++) {
            double[] sec = run.deviceSeconds(layers[li]);
            int straggler = 0;
            for (int d = 1; d < sec.length; d++) if (sec[d] > sec[straggler]) straggler = d;
            int x0 = 60 + li * groupW;
            double scale = maxSeconds <= 0 ? 0 : height / maxSeconds;
            int critY = top + height - (int) Math.round(sec[straggler] * scale);
            for (int d = 0; d < sec.length; d++) {
                int bh = (int) Math.round(sec[d] * scale);
                int y = top + height - bh;
                if (d != straggler && y > critY) {
                    s.append("<rect x=\"").append(x0 + d * bar).append("\" y=\"").append(critY).append("\" width=\"").append(bar - 1)
                            .append("\" height=\"").append(y - critY).append("\" fill=\"#e6e6e6\"/>\n");
                }
                s.append("<rect x=\"").append(x0 + d * bar).append("\" y=\"").append(y).append("\" width=\"").append(bar - 1)
                        .append("\" height=\"").append(bh).append("\" fill=\"").append(d == straggler ? "#d62728" : "#1f77b4")
                        .append("\"><title>layer ").append(layers[li]).append(", device ").append(d).append(": ")
                        .append(f("%.3f", sec[d] * 1e3)).append(" ms</title></rect>\n");
            }
            s.append("<text x=\"").append(x0).append("\" y=\"").append(top + height + 14).append("\">L").append(layers[li]).append("</text>\n");
        }
        return s.append("</svg>\n").toString();
    }

    /** white (0) -> yellow (balanced) -> dark red (3x balanced or more). */
    static String color(double rel) {
        double r, g, b;
        if (rel <= 1) {
            double t = Math.max(0, rel);
            r = 255;
            g = 255;
            b = 255 * (1 - t) + 80 * t;
        } else {
            double t = Math.min(1, (rel - 1) / 2);
            r = 255 * (1 - t) + 140 * t;
            g = 255 * (1 - t);
            b = 80 * (1 - t);
        }
        return String.format(Locale.ROOT, "#%02x%02x%02x", (int) r, (int) g, (int) b);
    }

    private static String f(String fmt, double v) {
        return String.format(Locale.ROOT, fmt, v);
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
