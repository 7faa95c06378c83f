package capmoe.eval;

import java.io.PrintStream;

/**
 * A progress bar with ETA, one line every few seconds. Whole lines rather than carriage-return
 * redraws, because ./capmoe passes stderr through a line filter and CI logs keep every line.
 */
public final class Progress {
    private final PrintStream out;
    private final String label;
    private long total;
    private long done;
    private long startNanos;
    private long lastDraw;

    public Progress(PrintStream out, String label) {
        this.out = out;
        this.label = label;
    }

    void start(long totalUnits) {
        total = Math.max(1, totalUnits);
        done = 0;
        startNanos = System.nanoTime();
        lastDraw = startNanos;
    }

    void advance(long units) {
        done += units;
        long now = System.nanoTime();
        if (now - lastDraw > 5_000_000_000L) {
            lastDraw = now;
            draw();
        }
    }

    void finish() {
        draw();
    }

    private void draw() {
        double frac = Math.min(1.0, (double) done / total);
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        String eta = done == 0 ? "?" : clock(elapsed / frac - elapsed);
        int width = 30;
        int filled = (int) Math.round(frac * width);
        out.printf("%s [%s%s] %3.0f%% %d/%d tokens, %s elapsed, ETA %s%n", label, "#".repeat(filled),
                ".".repeat(width - filled), 100 * frac, done, total, clock(elapsed), eta);
        out.flush();
    }

    private static String clock(double seconds) {
        long s = Math.round(seconds);
        return String.format("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
    }
}
