package capmoe.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A self-contained HTML report page: headings, notes, tables and Apache ECharts charts, with
 * ECharts itself inlined (from the {@code org.webjars.npm:echarts} webjar), so the file works
 * offline and fetches nothing. Every capmoe report is built with it.
 *
 * <p>How a page is made and drawn:
 * <ol>
 *   <li>{@link #heading}, {@link #note}, {@link #table} and {@link #chart} append blocks in order;
 *       a chart is an ECharts option (JSON) built with the helpers below;</li>
 *   <li>{@link #render} writes the HTML: the blocks, then ECharts, then a script that draws every
 *       chart with the SVG renderer (crisp text, selectable, small);</li>
 *   <li>chart options cannot carry JavaScript functions, so two named renderers stand in for them:
 *       a series {@code {"type":"custom","renderItem":"errorBarY"}} draws vertical error bars from
 *       data {@code [x, low, high]} ({@code errorBarX}: horizontal, data {@code [y, low, high]});</li>
 *   <li>errors while drawing (and {@code console.error}) are listed in {@code <pre id="chart-errors">},
 *       and the body gets {@code data-charts-rendered="N"}: the browser test reads both.</li>
 * </ol>
 *
 * <p>Colours: {@link #colours} gives each policy kind (the spec before '@') one colour for the
 * whole page, so a policy looks the same in every chart.
 */
public final class ChartPage {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** ECharts' default palette, extended; kinds are coloured in order of first appearance. */
    private static final List<String> PALETTE = List.of("#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272",
            "#fc8452", "#9a60b4", "#ea7ccc", "#4e79a7", "#b07aa1", "#76b7b2");

    /** The baseline is always grey. */
    private static final String BASELINE = "#7f7f7f";

    private final String title;
    private final StringBuilder body = new StringBuilder();
    private final List<String> charts = new ArrayList<>();

    public ChartPage(String title) {
        this.title = title;
    }

    public ChartPage heading(String text) {
        body.append("<h2>").append(esc(text)).append("</h2>\n");
        return this;
    }

    public ChartPage note(String text) {
        body.append("<p class=\"note\">").append(esc(text)).append("</p>\n");
        return this;
    }

    /** A table; the first column is left-aligned (labels), the others right-aligned (numbers). */
    public ChartPage table(List<String> header, List<List<String>> rows) {
        body.append("<table><tr>");
        for (String h : header) body.append("<th>").append(esc(h)).append("</th>");
        body.append("</tr>\n");
        for (List<String> row : rows) {
            body.append("<tr>");
            for (String c : row) body.append("<td>").append(esc(c)).append("</td>");
            body.append("</tr>\n");
        }
        body.append("</table>\n");
        return this;
    }

    /** A chart of the given height (the width follows the page). */
    public ChartPage chart(ObjectNode option, int heightPx) {
        String id = "chart-" + charts.size();
        body.append("<div class=\"chart\" id=\"").append(id).append("\" style=\"height:").append(heightPx).append("px\"></div>\n");
        try {
            charts.add(JSON.writeValueAsString(option));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("chart option is not serializable", e);
        }
        return this;
    }

    /** Charts added so far. */
    public int charts() { return charts.size(); }

    public String render() {
        StringBuilder h = new StringBuilder(1_100_000);
        h.append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").append(esc(title)).append("</title>\n<style>")
                .append("body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}")
                .append("table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}")
                .append("td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}h2{margin-top:32px}")
                .append(".note{color:#555;font-size:90%}.chart{width:100%;margin:8px 0}#chart-errors:empty{display:none}")
                .append("#chart-errors{color:#b00;border:1px solid #b00;padding:8px}")
                .append("</style></head><body data-charts-rendered=\"0\">\n<h1>").append(esc(title)).append("</h1>\n")
                .append("<pre id=\"chart-errors\"></pre>\n");
        h.append(body);
        h.append("<script>\n").append(echarts()).append("\n</script>\n<script>\n");
        h.append("(function(){\n")
                .append("var errors=document.getElementById('chart-errors');\n")
                .append("function report(m){errors.textContent+=m+'\\n';}\n")
                .append("window.addEventListener('error',function(e){report('error: '+e.message);});\n")
                .append("var consoleError=console.error;console.error=function(){report('console.error: '+Array.prototype.join.call(arguments,' '));")
                .append("consoleError.apply(console,arguments);};\n")
                .append(RENDERERS)
                .append("var options=[").append(String.join(",\n", charts)).append("];\n")
                .append("var drawn=0;\n")
                .append("options.forEach(function(o,i){try{\n")
                .append("  (o.series||[]).forEach(function(s){if(s.type==='custom'&&typeof s.renderItem==='string')s.renderItem=renderers[s.renderItem];});\n")
                .append("  var c=echarts.init(document.getElementById('chart-'+i),null,{renderer:'svg'});c.setOption(o);drawn++;\n")
                .append("  window.addEventListener('resize',function(){c.resize();});\n")
                .append("}catch(e){report('chart '+i+': '+e);}});\n")
                .append("document.body.setAttribute('data-charts-rendered',String(drawn));\n")
                .append("})();\n</script>\n</body></html>\n");
        return h.toString();
    }

    /** Error bars for custom series: data [x, low, high] (errorBarY) or [y, low, high] (errorBarX). */
    private static final String RENDERERS = """
            function bar(params,api,vertical){
              var a=vertical?api.coord([api.value(0),api.value(1)]):api.coord([api.value(1),api.value(0)]);
              var b=vertical?api.coord([api.value(0),api.value(2)]):api.coord([api.value(2),api.value(0)]);
              var w=6,style={stroke:api.visual('color'),lineWidth:1.5};
              var cap=function(p){return vertical?{x1:p[0]-w,y1:p[1],x2:p[0]+w,y2:p[1]}:{x1:p[0],y1:p[1]-w,x2:p[0],y2:p[1]+w};};
              return {type:'group',children:[{type:'line',shape:{x1:a[0],y1:a[1],x2:b[0],y2:b[1]},style:style},
                {type:'line',shape:cap(a),style:style},{type:'line',shape:cap(b),style:style}]};
            }
            var renderers={errorBarY:function(p,api){return bar(p,api,true);},errorBarX:function(p,api){return bar(p,api,false);}};
            """;

    private static String echartsSource;

    /** ECharts' minified bundle from the webjar on the class path. */
    static synchronized String echarts() {
        if (echartsSource == null) {
            String path = "META-INF/resources/webjars/echarts/5.3.1/dist/echarts.min.js";
            try (InputStream in = ChartPage.class.getClassLoader().getResourceAsStream(path)) {
                if (in == null) throw new IllegalStateException(path + " is not on the class path (the org.webjars.npm:echarts dependency)");
                echartsSource = new String(in.readAllBytes(), StandardCharsets.UTF_8).replace("</script", "<\\/script");
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + path, e);
            }
        }
        return echartsSource;
    }

    /** One colour per policy kind (none grey), in order of first appearance: the same in every chart of a page. */
    public static Map<String, String> colours(List<String> policies) {
        Map<String, String> byKind = new LinkedHashMap<>();
        for (String p : policies) {
            String kind = kind(p);
            if (!byKind.containsKey(kind)) {
                byKind.put(kind, kind.equals("none") ? BASELINE : PALETTE.get((byKind.size() - (byKind.containsKey("none") ? 1 : 0)) % PALETTE.size()));
            }
        }
        Map<String, String> byPolicy = new LinkedHashMap<>();
        for (String p : policies) byPolicy.put(p, byKind.get(kind(p)));
        return byPolicy;
    }

    /** The policy kind: the spec before '@' (score@1.5 -> score). */
    public static String kind(String policy) {
        int at = policy.indexOf('@');
        return at < 0 ? policy : policy.substring(0, at);
    }

    // ---- option helpers (plain ECharts option JSON) ----

    public static ObjectNode option(String title) {
        ObjectNode o = JSON.createObjectNode();
        o.putObject("title").put("text", title).putObject("textStyle").put("fontSize", 14);
        o.put("animation", false);
        o.putObject("grid").put("left", 70).put("right", 40).put("top", 60).put("bottom", 60).put("containLabel", true);
        return o;
    }

    /** A value axis with a name; nice ticks are ECharts' own. */
    public static ObjectNode valueAxis(String name, boolean fromZero) {
        ObjectNode a = JSON.createObjectNode();
        a.put("type", "value").put("name", name).put("nameLocation", "middle").put("nameGap", 35).put("scale", !fromZero);
        return a;
    }

    public static ObjectNode categoryAxis(String name, List<String> categories) {
        ObjectNode a = JSON.createObjectNode();
        a.put("type", "category").put("name", name).put("nameLocation", "middle").put("nameGap", 35);
        ArrayNode d = a.putArray("data");
        categories.forEach(d::add);
        return a;
    }

    /** A horizontal (axis "y") or vertical (axis "x") reference line with a label, dashed. */
    public static ObjectNode markLine(String axis, double value, String label) {
        ObjectNode m = JSON.createObjectNode();
        m.put("silent", true).put("symbol", "none");
        m.putObject("lineStyle").put("type", "dashed").put("color", "#555");
        ObjectNode d = m.putArray("data").addObject();
        d.put(axis.equals("y") ? "yAxis" : "xAxis", value);
        d.putObject("label").put("formatter", label).put("position", "insideEndTop");
        return m;
    }

    public static ObjectNode series(String type, String name, String colour) {
        ObjectNode s = JSON.createObjectNode();
        s.put("type", type).put("name", name);
        if (colour != null) s.putObject("itemStyle").put("color", colour);
        return s;
    }

    /** Adds data points [x, y] (NaN and infinite values become null, which ECharts leaves out). */
    public static ArrayNode point(ArrayNode data, double... values) {
        ArrayNode p = data.addArray();
        for (double v : values) {
            if (Double.isFinite(v)) p.add(v);
            else p.addNull();
        }
        return p;
    }

    /**
     * The measured-speedup chart of every EP report: one bar per policy (its median, in the
     * policy's colour), whiskers from its lowest to highest measurement, a diamond at its load
     * bound, and a dashed line at 1.0x.
     *
     * @param policies the policies, the baseline first (the title says "over" it)
     */
    public static ObjectNode speedupChart(String title, List<String> policies, Map<String, String> colours, double[] median,
                                          double[] low, double[] high, double[] bound, String rangeName) {
        ObjectNode o = option(title);
        o.set("tooltip", tooltip("item"));
        o.set("legend", legend());
        o.set("xAxis", categoryAxis("policy", policies));
        o.set("yAxis", valueAxis("speedup (x)", true));
        ArrayNode series = o.putArray("series");
        ObjectNode bars = series("bar", "measured (median)", null);
        ArrayNode data = bars.putArray("data");
        for (int i = 0; i < policies.size(); i++) {
            ObjectNode d = data.addObject();
            d.put("value", median[i]);
            d.putObject("itemStyle").put("color", colours.get(policies.get(i)));
        }
        bars.set("markLine", markLine("y", 1.0, "1.0x"));
        series.add(bars);
        ObjectNode err = series("custom", rangeName, "#333");
        err.put("renderItem", "errorBarY");
        ArrayNode ed = err.putArray("data");
        for (int i = 0; i < policies.size(); i++) point(ed, i, low[i], high[i]);
        err.putObject("encode").putArray("x").add(0);
        ((ObjectNode) err.get("encode")).putArray("y").add(1).add(2);
        series.add(err);
        ObjectNode b = series("scatter", "load bound", "#222");
        b.put("symbol", "diamond").put("symbolSize", 12);
        ArrayNode bd = b.putArray("data");
        for (int i = 0; i < policies.size(); i++) point(bd, i, bound[i]);
        series.add(b);
        return o;
    }

    public static ObjectNode tooltip(String trigger) {
        ObjectNode t = JSON.createObjectNode();
        t.put("trigger", trigger).put("confine", true);
        return t;
    }

    public static ObjectNode legend() {
        ObjectNode l = JSON.createObjectNode();
        l.put("type", "scroll").put("bottom", 0);
        return l;
    }

    public static ObjectNode object() {
        return JSON.createObjectNode();
    }

    public static ArrayNode array() {
        return JSON.createArrayNode();
    }

    public static String fmt(String format, double v) {
        return String.format(Locale.ROOT, format, v);
    }

    public static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
