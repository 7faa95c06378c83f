package capmoe.runtime.trace;

import capmoe.routing.Routing;

import java.util.List;

/**
 * A recorded sequence of MoE routings, one {@link Record} per (batch, layer) call, as written by
 * {@link TraceWriter} and read by {@link TraceReader}.
 *
 * <h2>File format (version 1, little-endian)</h2>
 * <pre>
 * header:
 *   8 bytes   magic "CAPMOETR"
 *   int32     version = 1
 *   int32     experts E (at most 65536)
 *   int32     top_k of the router (0 = unknown)
 *   int32     flags: bit 0 = weights were renormalised over the kept experts (norm_topk_prob)
 *   uint16 n, n bytes UTF-8   policy label the routing was recorded under ("none" = plain top-k)
 *   uint16 n, n bytes UTF-8   source (free text: model directory, data)
 * then records until end of file:
 *   int32     batch index
 *   int32     layer index
 *   int32     tokens T
 *   int32     pairs P
 *   T x uint8     pairs of each token (CSR counts; offsets are their prefix sums)
 *   P x uint16    expert id of each pair, token-major, experts ascending within a token
 *   P x float32   routing weight of each pair (the gate score when flags bit 0 is clear)
 * </pre>
 * A record of T tokens under top-8 costs 4*4 + T*(1 + 8*6) bytes, about 50 bytes per token per layer.
 */
public record RoutingTrace(Header header, List<Record> records) {

    public static final byte[] MAGIC = {'C', 'A', 'P', 'M', 'O', 'E', 'T', 'R'};
    public static final int VERSION = 1;

    public record Header(int experts, int topK, boolean normalizedWeights, String policy, String source) { }

    public record Record(int batch, int layer, Routing routing) { }

    /** Number of distinct batches. */
    public int batches() {
        return (int) records.stream().mapToInt(Record::batch).distinct().count();
    }
}
