package capmoe.runtime.ep;

import capmoe.files.AtomicFile;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * The JSON form of an {@link EpBench.Result}: the run's settings, then per policy the same values
 * the console's table prints (dropped fraction, device max/mean, EP seconds per layer, speedup
 * median and range, bound), every repeat's EP time, and every MoE layer call's loads and median
 * repeat timing.
 */
public final class EpBenchJson {
    private EpBenchJson() { }

    public static ObjectNode of(EpBench.Result r) {
        EpBench.Config c = r.config();
        ObjectMapper m = new ObjectMapper();
        ObjectNode root = m.createObjectNode();
        root.put("model", c.model().toString());
        root.put("modelType", r.model().modelType());
        root.put("experts", r.model().numExperts());
        root.put("topK", r.model().topK());
        root.put("mode", c.mode().id());
        root.put("label", r.label());
        root.put("devices", c.devices());
        root.put("threadsPerDevice", r.threads());
        root.put("machineCores", r.cores());
        root.put("linkGbps", c.linkGbps());
        root.put("batchTokens", c.tokens());
        root.put("seqLen", c.seqLen());
        root.put("batches", c.batches());
        root.put("warmup", c.warmup());
        root.put("repeats", c.repeats());
        root.put("replayWarmup", c.replayWarmup());
        root.put("decodeSteps", c.decodeSteps());
        root.put("data", r.data());
        ArrayNode placement = root.putArray("placement");
        for (int e = 0; e < r.layout().experts(); e++) placement.add(r.layout().deviceOf(e));
        ArrayNode ps = root.putArray("policies");
        for (EpBench.PolicyResult pr : r.policies()) {
            EpStats.Summary s = pr.summary();
            EpReplay.Speedup sp = pr.speedup();
            ObjectNode p = ps.addObject();
            p.put("policy", pr.policy());
            p.put("gamma", EpBench.gammaOf(pr.policy()));
            p.put("droppedFraction", s.droppedFraction());
            p.put("addedFraction", s.addedFraction());
            p.put("deviceMaxOverMeanBefore", s.maxOverMeanBefore());
            p.put("deviceMaxOverMeanAfter", s.maxOverMeanAfter());
            // the median repeat's sum; per-call detail below (and criticalPath/comm/idle here) = each call's median repeat
            p.put("epSecondsPerLayer", pr.epSecondsPerLayer());
            p.put("epSeconds", pr.timings().epSeconds());
            p.put("criticalPathSeconds", s.criticalSeconds());
            p.put("commSeconds", s.commSeconds());
            p.put("idleSeconds", s.idleSeconds());
            p.put("deviceComputeSeconds", s.deviceSeconds());
            p.put("speedupVsNone", sp.median());
            p.put("speedupMin", sp.min());
            p.put("speedupMax", sp.max());
            p.put("aboveBound", pr.aboveBound());
            ArrayNode perRepeat = p.putArray("epSecondsPerRepeat");
            for (int rep = 0; rep < pr.timings().repeats(); rep++) perRepeat.add(pr.timings().repeatSeconds(rep));
            p.put("concurrency", pr.timings().concurrency());
            p.put("singlePassEpSeconds", pr.singlePass().summary().epSeconds());
            p.put("bound", pr.bound());
            p.put("extraSlotsPerDevice", pr.extraSlots());
            p.put("extraBytesPerDevice", pr.extraBytes());
            if (pr.decode() != null) {
                ObjectNode d = p.putObject("decode");
                EpStats.Summary ds = pr.decode().run().summary();
                d.put("calls", pr.decode().timings().calls());
                d.put("droppedFraction", ds.droppedFraction());
                d.put("deviceMaxOverMeanAfter", ds.maxOverMeanAfter());
                d.put("epSeconds", pr.decode().timings().epSeconds());
                d.put("speedupVsNone", pr.decode().speedup().median());
                d.put("speedupMin", pr.decode().speedup().min());
                d.put("speedupMax", pr.decode().speedup().max());
                d.put("bound", pr.decode().bound());
            }
            ArrayNode calls = p.putArray("layerCalls");
            for (LayerRecord rec : pr.run().records()) {
                ObjectNode l = calls.addObject();
                l.put("batch", rec.batch());
                l.put("layer", rec.layer());
                ints(l.putArray("expertLoadBefore"), rec.expertLoadBefore());
                ints(l.putArray("expertLoadAfter"), rec.expertLoadAfter());
                ints(l.putArray("deviceLoadBefore"), rec.deviceLoadBefore());
                ints(l.putArray("deviceLoadAfter"), rec.deviceLoadAfter());
                ArrayNode dt = l.putArray("deviceSeconds");
                for (long v : rec.timing().deviceNanos()) dt.add(v / 1e9);
                l.put("criticalPathSeconds", rec.timing().criticalPathNanos() / 1e9);
                l.put("idleSeconds", rec.timing().idleNanos() / 1e9);
                l.put("commSeconds", rec.timing().commSeconds());
                l.put("dispatchBytes", rec.timing().dispatchBytes());
                l.put("straggler", rec.timing().straggler());
                l.put("droppedFraction", rec.droppedFraction());
                l.put("addedFraction", rec.addedFraction());
            }
        }
        return root;
    }

    /** Writes {@link #of} to {@code file} atomically. */
    public static void write(EpBench.Result r, Path file) {
        try {
            AtomicFile.writeString(file, new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(of(r)));
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException("cannot write " + file + " (" + e.getMessage() + ")", e);
        }
    }

    private static void ints(ArrayNode a, int[] v) {
        for (int x : v) a.add(x);
    }
}
