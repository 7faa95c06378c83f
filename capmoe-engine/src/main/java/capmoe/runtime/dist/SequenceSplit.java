package capmoe.runtime.dist;

/**
 * How the global batch of {@code sequences} sequences is split across {@code ranks} ranks for
 * data-parallel attention: rank r owns the contiguous block of sequences
 * {@code first(r) = floor(r*B/D)} .. {@code first(r+1)-1}. So ranks hold ⌊B/D⌋ or ⌈B/D⌉
 * sequences (a rank may hold none when B < D), and the global token order (sequences in order,
 * each packed) is rank-major: rank 0's tokens, then rank 1's, ... — the order in which gathered
 * router logits and dispatched rows are concatenated, so every rank sees the single-process batch.
 */
public record SequenceSplit(int sequences, int ranks) {

    public SequenceSplit {
        if (sequences < 0) throw new IllegalArgumentException("sequence count " + sequences + " is negative");
        if (ranks < 1) throw new IllegalArgumentException("rank count " + ranks + " must be >= 1");
    }

    /** First sequence of rank r (r = ranks gives the end, B). */
    public int first(int rank) {
        return (int) ((long) rank * sequences / ranks);
    }

    /** Number of sequences of rank r. */
    public int count(int rank) {
        return first(rank + 1) - first(rank);
    }

    /** The rank owning sequence s. */
    public int rankOf(int sequence) {
        if (sequence < 0 || sequence >= sequences) {
            throw new IllegalArgumentException("sequence " + sequence + " is outside 0.." + (sequences - 1));
        }
        int r = (int) ((long) sequence * ranks / sequences);
        while (first(r + 1) <= sequence) r++;
        while (first(r) > sequence) r--;
        return r;
    }

    /** Rank r's sequences of a global batch (copies of the row references). */
    public int[][] part(int[][] global, int rank) {
        if (global.length != sequences) {
            throw new IllegalArgumentException("batch has " + global.length + " sequences, the split is for " + sequences);
        }
        return java.util.Arrays.copyOfRange(global, first(rank), first(rank + 1));
    }
}
