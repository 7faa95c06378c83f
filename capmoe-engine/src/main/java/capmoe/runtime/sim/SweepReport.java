package capmoe.runtime.sim;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The sweep as one self-contained HTML figure like the paper's (inline SVG, no scripts, nothing
 * fetched): one panel per model shape, groups of bars per experts-per-device, one bar per policy
 * (speedup of the MoE layer against {@code none} at the same devices), the paper's measured
 * speedup as a dashed outline over the simulated bar where the paper gives it, and a table of
 * every number drawn. Written atomically (temp file, then rename).
 */
public final class SweepReport {
    private SweepReport() { }

    private static final String[] COLORS = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f"};

    public static void write(Path file, String title, List<String> notes, List<Sweep.Cell> cells) {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try {
            Files.writeString(tmp, render(title, notes, cells));
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the sweep figure " + file + " (" + e.getMessage() + ")", e);
        }
    }

    public static String render(String title, List<String> notes, List<Sweep.Cell> cells) {
        StringBuilder h = new StringBuilder();
        h.append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").append(esc(title)).append("</title>\n<style>")
                .append("body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin-top:8px}")
                .append("td,th{border:1px solid #ccc;padding:2px 6px;text-align:right;font-size:90%}th{background:#f4f4f4}")
                .append(".note{color:#555;font-size:90%}svg text{font-family:sans-serif}")
                .append("</style></head><body>\n<h1>").append(esc(title)).append("</h1>\n");
        for (String n : notes) h.append("<p class=\"note\">").append(esc(n)).append("</p>\n");
        List<String> policies = new ArrayList<>(new LinkedHashSet<>(cells.stream().map(Sweep.Cell::policy).filter(p -> !p.equals("none")).toList()));
        Map<String, List<Sweep.Cell>> byShape = new LinkedHashMap<>();
        for (Sweep.Cell c : cells) byShape.computeIfAbsent(c.shape(), k -> new ArrayList<>()).add(c);
        // legend
        int step = 190;
        h.append(f("<svg width=\"%d\" height=\"24\">", 20 + step * (policies.size() + 1)));
        for (int i = 0; i < policies.size(); i++) {
            h.append(f("<rect x=\"%d\" y=\"6\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%d\" y=\"16\" font-size=\"12\">%s</text>",
                    10 + step * i, COLORS[i % COLORS.length], 26 + step * i, esc(policies.get(i))));
        }
        h.append(f("<rect x=\"%d\" y=\"6\" width=\"12\" height=\"12\" fill=\"none\" stroke=\"#222\" stroke-dasharray=\"3,2\"/><text x=\"%d\" y=\"16\" font-size=\"12\">paper (measured, 8 GPUs)</text>",
                10 + step * policies.size(), 26 + step * policies.size()));
        h.append("</svg>\n");
        for (Map.Entry<String, List<Sweep.Cell>> shape : byShape.entrySet()) {
            List<Sweep.Cell> list = shape.getValue();
            Sweep.Cell first = list.get(0);
            h.append("<h2>").append(esc(shape.getKey())).append(f(" <small>(%d experts, top-%d)</small></h2>\n", first.experts(), first.topK()));
            List<Integer> groups = new ArrayList<>(new LinkedHashSet<>(list.stream().map(Sweep.Cell::expertsPerDevice).toList()));
            double max = 1;
            for (Sweep.Cell c : list) {
                if (Double.isFinite(c.speedup())) max = Math.max(max, c.speedup());
                if (Double.isFinite(c.paper())) max = Math.max(max, c.paper());
            }
            max = Math.ceil(max * 2) / 2;
            int bar = 20, gap = 34, left = 44, height = 260, top = 10;
            int groupWidth = policies.size() * bar + gap;
            int width = left + groups.size() * groupWidth + 20;
            h.append(f("<svg width=\"%d\" height=\"%d\">", width, height + 50));
            for (double y = 0; y <= max + 1e-9; y += 0.5) {
                int py = top + (int) Math.round(height * (1 - y / max));
                h.append(f("<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\"/>", left, width - 10, py, py, y == 1.0 ? "#999" : "#eee"));
                h.append(f("<text x=\"%d\" y=\"%d\" font-size=\"10\" text-anchor=\"end\">%.1fx</text>", left - 4, py + 3, y));
            }
            for (int g = 0; g < groups.size(); g++) {
                int n = groups.get(g);
                int x0 = left + 8 + g * groupWidth;
                int x = x0;
                for (int i = 0; i < policies.size(); i++) {
                    Sweep.Cell c = find(list, n, policies.get(i));
                    if (c != null && Double.isFinite(c.speedup())) {
                        int bh = (int) Math.round(height * Math.min(c.speedup(), max) / max);
                        h.append(f("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"><title>%s, %d/device: %.2fx (bound %.2fx, dropped %.1f%%)</title></rect>",
                                x, top + height - bh, bar - 2, bh, COLORS[i % COLORS.length], esc(c.policy()), n, c.speedup(), c.bound(), 100 * c.droppedFraction()));
                    }
                    x += bar;
                }
                for (int i = 0; i < policies.size(); i++) {
                    Sweep.Cell c = find(list, n, policies.get(i));
                    if (c != null && Double.isFinite(c.paper())) {
                        int bh = (int) Math.round(height * Math.min(c.paper(), max) / max);
                        int px = x0 + i * bar;
                        h.append(f("<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#222\" stroke-dasharray=\"3,2\"><title>paper, %s, %d/GPU: %.2fx</title></rect>",
                                px, top + height - bh, bar - 2, bh, esc(c.policy()), n, c.paper()));
                    }
                }
                h.append(f("<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">%d/device (D=%d)</text>",
                        x0 + policies.size() * bar / 2, top + height + 16, n, first.experts() / n));
            }
            h.append(f("<text x=\"12\" y=\"%d\" font-size=\"11\" transform=\"rotate(-90 12 %d)\" text-anchor=\"middle\">MoE-layer speedup vs none</text>",
                    top + height / 2, top + height / 2));
            h.append("</svg>\n");
            h.append("<table><tr><th>experts/device</th><th>devices</th><th>policy</th><th>dropped %</th><th>device max/mean</th>")
                    .append("<th>speedup</th><th>bound</th><th>extra slots/device</th><th>paper</th></tr>\n");
            for (Sweep.Cell c : list) {
                h.append(f("<tr><td>%d</td><td>%d</td><td style=\"text-align:left\">%s</td><td>%.1f</td><td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%d</td><td>%s</td></tr>\n",
                        c.expertsPerDevice(), c.devices(), esc(c.policy()), 100 * c.droppedFraction(), c.maxOverMean(), c.speedup(), c.bound(),
                        c.extraSlots(), Double.isFinite(c.paper()) ? f("%.2f", c.paper()) : ""));
            }
            h.append("</table>\n");
        }
        return h.append("</body></html>\n").toString();
    }

    private static Sweep.Cell find(List<Sweep.Cell> list, int n, String policy) {
        for (Sweep.Cell c : list) if (c.expertsPerDevice() == n && c.policy().equals(policy)) return c;
        return null;
    }

    private static String f(String fmt, Object... args) { return String.format(Locale.ROOT, fmt, args); }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
