package capmoe.runtime.trace;

import capmoe.files.AtomicFile;
import capmoe.routing.Routing;
import capmoe.runtime.RoutingListener;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Records every MoE layer's routing to a compact binary file ({@link RoutingTrace} describes the
 * format). A new batch starts whenever a layer index does not increase (layer 0 again after the
 * last layer). Attach it to runs with policy {@code none} to record plain top-k choices.
 *
 * <p>The trace is written to a temporary file beside {@code file} and renamed onto it by
 * {@link #close} ({@link AtomicFile}): an interrupted run leaves no half trace for
 * {@code simulate} to read; {@link #abort} discards what was written.
 */
public final class TraceWriter implements RoutingListener, AutoCloseable {
    private final Path file;
    private final AtomicFile target;
    private final OutputStream out;
    private final int experts;
    private int batch = 0;
    private int lastLayer = Integer.MIN_VALUE;
    private long records = 0;

    public TraceWriter(Path file, RoutingTrace.Header header) {
        if (header.experts() < 1 || header.experts() > 65536) {
            throw new IllegalArgumentException("trace " + file + ": " + header.experts() + " experts do not fit 16-bit ids");
        }
        this.file = file;
        this.experts = header.experts();
        this.target = AtomicFile.create(file);
        try {
            this.out = new BufferedOutputStream(target.open(), 1 << 16);
            byte[] policy = header.policy().getBytes(StandardCharsets.UTF_8);
            byte[] source = header.source().getBytes(StandardCharsets.UTF_8);
            ByteBuffer b = ByteBuffer.allocate(8 + 16 + 4 + policy.length + source.length).order(ByteOrder.LITTLE_ENDIAN);
            b.put(RoutingTrace.MAGIC).putInt(RoutingTrace.VERSION).putInt(header.experts()).putInt(header.topK())
                    .putInt(header.normalizedWeights() ? 1 : 0);
            b.putShort((short) policy.length).put(policy).putShort((short) source.length).put(source);
            out.write(b.array());
        } catch (IOException e) {
            target.abort();
            throw new UncheckedIOException("trace " + file + ": cannot write (" + e.getMessage() + ")", e);
        }
    }

    @Override
    public synchronized void onRouting(int layer, Routing routing) {
        if (routing.experts() != experts) {
            throw new IllegalArgumentException("trace " + file + ": layer " + layer + " routes over " + routing.experts()
                    + " experts, the trace header says " + experts);
        }
        if (layer <= lastLayer) batch++;
        lastLayer = layer;
        int t = routing.tokens();
        int p = routing.offsets()[t];
        ByteBuffer b = ByteBuffer.allocate(16 + t + 6 * p).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(batch).putInt(layer).putInt(t).putInt(p);
        for (int i = 0; i < t; i++) {
            int n = routing.offsets()[i + 1] - routing.offsets()[i];
            if (n > 255) throw new IllegalArgumentException("trace " + file + ": token " + i + " keeps " + n + " experts (at most 255)");
            b.put((byte) n);
        }
        for (int i = 0; i < p; i++) b.putShort((short) routing.expertIds()[i]);
        for (int i = 0; i < p; i++) b.putFloat(routing.weights()[i]);
        try {
            out.write(b.array());
        } catch (IOException e) {
            throw new UncheckedIOException("trace " + file + ": write failed (" + e.getMessage() + ")", e);
        }
        records++;
    }

    public synchronized long records() { return records; }

    /** Finishes the trace: flushes it and renames it onto the file. */
    @Override
    public synchronized void close() {
        try {
            out.close();
        } catch (IOException e) {
            target.abort();
            throw new UncheckedIOException("trace " + file + ": close failed (" + e.getMessage() + ")", e);
        }
        target.commit();
    }

    /** Discards the trace (the run did not finish): the file is left as it was before. */
    public synchronized void abort() {
        try {
            out.close();
        } catch (IOException ignored) {
            // the temporary file is deleted either way
        }
        target.abort();
    }
}
