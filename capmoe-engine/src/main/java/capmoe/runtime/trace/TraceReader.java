package capmoe.runtime.trace;

import capmoe.routing.Routing;

import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Reads a {@link RoutingTrace} file; every malformed part is reported with the file and byte offset. */
public final class TraceReader {
    private TraceReader() { }

    public static RoutingTrace read(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IllegalArgumentException("trace " + file + ": cannot read (" + e.getMessage() + ")");
        }
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int at = 0;
        try {
            byte[] magic = new byte[8];
            b.get(magic);
            if (!Arrays.equals(magic, RoutingTrace.MAGIC)) {
                throw new IllegalArgumentException("trace " + file + " is not a capmoe routing trace (no CAPMOETR magic)");
            }
            int version = b.getInt();
            if (version != RoutingTrace.VERSION) {
                throw new IllegalArgumentException("trace " + file + ": version " + version + ", this reader knows " + RoutingTrace.VERSION);
            }
            int experts = b.getInt();
            int topK = b.getInt();
            int flags = b.getInt();
            if (experts < 1 || experts > 65536) throw new IllegalArgumentException("trace " + file + ": bad expert count " + experts);
            String policy = string(b);
            String source = string(b);
            RoutingTrace.Header header = new RoutingTrace.Header(experts, topK, (flags & 1) != 0, policy, source);
            List<RoutingTrace.Record> records = new ArrayList<>();
            while (b.hasRemaining()) {
                at = b.position();
                int batch = b.getInt(), layer = b.getInt(), tokens = b.getInt(), pairs = b.getInt();
                if (tokens < 0 || pairs < 0 || (long) tokens + 6L * pairs > b.remaining()) {
                    throw new IllegalArgumentException("trace " + file + ": record at byte " + at + " claims " + tokens + " tokens and "
                            + pairs + " pairs but only " + b.remaining() + " bytes follow (truncated or corrupt)");
                }
                int[] offsets = new int[tokens + 1];
                for (int t = 0; t < tokens; t++) offsets[t + 1] = offsets[t] + (b.get() & 0xff);
                if (offsets[tokens] != pairs) {
                    throw new IllegalArgumentException("trace " + file + ": record at byte " + at + " has per-token counts summing to "
                            + offsets[tokens] + ", not its " + pairs + " pairs");
                }
                int[] ids = new int[pairs];
                for (int p = 0; p < pairs; p++) {
                    ids[p] = b.getShort() & 0xffff;
                    if (ids[p] >= experts) {
                        throw new IllegalArgumentException("trace " + file + ": record at byte " + at + " names expert " + ids[p]
                                + " of " + experts);
                    }
                }
                float[] w = new float[pairs];
                for (int p = 0; p < pairs; p++) w[p] = b.getFloat();
                records.add(new RoutingTrace.Record(batch, layer, new Routing(tokens, experts, offsets, ids, w, null)));
            }
            return new RoutingTrace(header, records);
        } catch (BufferUnderflowException e) {
            throw new IllegalArgumentException("trace " + file + ": ends in the middle of " + (at == 0 ? "the header" : "the record at byte " + at)
                    + " (truncated)");
        }
    }

    private static String string(ByteBuffer b) {
        int n = b.getShort() & 0xffff;
        byte[] s = new byte[n];
        b.get(s);
        return new String(s, StandardCharsets.UTF_8);
    }
}
