package capmoe.eval;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Every task side by side: one row per policy, one column per (task, metric) with its standard
 * error, and a last row with each multiple-choice task's chance level. A multiple-choice score
 * within two standard errors of chance is marked {@code ≈}: the model does not tell the choices
 * apart there, whatever the policy. The values are those of the per-task tables
 * ({@link MarkdownReport}) and results.json.
 */
public final class QualityTable {
    private QualityTable() { }

    /** Metrics that count rather than measure, left out of the table. */
    private static final List<String> COUNTS = List.of("tokens_scored");

    /** The table as Markdown, or "" for fewer than two tasks (the per-task table says it all). */
    public static String render(EvalResults r, List<Task> tasks) {
        List<String> names = r.tasks();
        if (names.size() < 2) return "";
        String firstPolicy = r.policies().getFirst();
        List<String[]> columns = new ArrayList<>(); // {task, metric}
        for (String task : names) {
            for (String m : r.get(firstPolicy, task).metrics().keySet()) {
                if (!COUNTS.contains(m)) columns.add(new String[] {task, m});
            }
        }
        StringBuilder sb = new StringBuilder("\n### every task (± stderr)\n\n| policy |");
        for (String[] c : columns) sb.append(' ').append(c[0]).append(' ').append(c[1]).append(" |");
        sb.append("\n|---|").append("---:|".repeat(columns.size())).append('\n');
        for (String p : r.policies()) {
            sb.append("| ").append(p).append(" |");
            for (String[] c : columns) {
                TaskResult t = r.get(p, c[0]);
                double v = t.metrics().get(c[1]);
                Double se = t.stderrs().get(c[1]);
                double chance = chance(tasks, c[0], c[1]);
                boolean atChance = !Double.isNaN(chance) && se != null && !Double.isNaN(se) && Math.abs(v - chance) < 2 * se;
                sb.append(' ').append(atChance ? "≈" : "").append(MarkdownReport.valueWithStderr(v, se)).append(" |");
            }
            sb.append('\n');
        }
        sb.append("| chance |");
        for (String[] c : columns) {
            double chance = chance(tasks, c[0], c[1]);
            sb.append(' ').append(Double.isNaN(chance) ? "" : String.format(Locale.ROOT, "%.4f", chance)).append(" |");
        }
        sb.append("\n\n≈ = within 2 standard errors of chance (mean of 1/choices over the documents): not "
                + "distinguishable from guessing.\n");
        return sb.toString();
    }

    /** The expected accuracy of guessing on a multiple-choice task (mean of 1/choices), else NaN. */
    static double chance(List<Task> tasks, String task, String metric) {
        if (!metric.startsWith("acc")) return Double.NaN;
        for (Task t : tasks) {
            if (t instanceof Task.MultipleChoice mc && mc.name().equals(task) && !mc.docs().isEmpty()) {
                double sum = 0;
                for (Task.Doc d : mc.docs()) sum += 1.0 / d.contexts().size();
                return sum / mc.docs().size();
            }
        }
        return Double.NaN;
    }
}
