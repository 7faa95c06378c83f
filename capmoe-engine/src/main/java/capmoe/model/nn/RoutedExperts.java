package capmoe.model.nn;

import capmoe.runtime.SwiGluExperts;
import capmoe.weights.Checkpoint;

import java.util.ArrayList;
import java.util.List;

/** Loads per-expert SwiGLU matrices {@code prefix + N. + gate/up/down + .weight}, N = 0..experts-1. */
public final class RoutedExperts {
    private RoutedExperts() { }

    public static SwiGluExperts load(Checkpoint w, String prefix, int experts, String gate, String up, String down,
                                     int hidden, int intermediate, String why) {
        List<SwiGluExperts.Expert> list = new ArrayList<>(experts);
        for (int e = 0; e < experts; e++) {
            String p = prefix + e + ".";
            list.add(new SwiGluExperts.Expert(
                    w.matrix(p + gate + ".weight", intermediate, hidden, why),
                    w.matrix(p + up + ".weight", intermediate, hidden, why),
                    w.matrix(p + down + ".weight", hidden, intermediate, why)));
        }
        // an extra expert in the checkpoint means the config's expert count is wrong
        if (w.has(prefix + experts + "." + gate + ".weight")) {
            throw new IllegalArgumentException("the checkpoint in " + w.dir() + " has tensor " + prefix + experts + "." + gate
                    + ".weight but the config declares only " + experts + " experts (" + why + ")");
        }
        return new SwiGluExperts(list, hidden, intermediate);
    }
}
