package capmoe.model;

import capmoe.kernels.DotMode;
import capmoe.kernels.MatMul;
import capmoe.kernels.Matrix;
import capmoe.kernels.Parallel;
import capmoe.kernels.RmsNorm;
import capmoe.model.nn.Batch;
import capmoe.model.nn.DecoderLayer;
import capmoe.model.nn.Scratch;
import capmoe.model.nn.Step;
import capmoe.runtime.PhaseClock;
import capmoe.runtime.PhaseClock.Phase;
import capmoe.weights.Checkpoint;

import java.util.List;

/**
 * The part every supported model shares: token embedding, the layer loop, final RMSNorm, LM head,
 * batching and the KV-cached session. An architecture only supplies its layers (attention + MLP/MoE).
 */
public final class Decoder implements CausalLM {
    private final ModelConfig config;
    private final Checkpoint checkpoint;
    private final Matrix embed;
    private final List<DecoderLayer> layers;
    private final float[] norm;
    private final Matrix lmHead;

    public Decoder(ModelConfig config, Checkpoint checkpoint, Matrix embed, List<DecoderLayer> layers, float[] norm, Matrix lmHead) {
        this.config = config;
        this.checkpoint = checkpoint;
        this.embed = embed;
        this.layers = List.copyOf(layers);
        this.norm = norm;
        this.lmHead = lmHead;
    }

    /**
     * Loads the shared tensors (model.embed_tokens, model.norm, lm_head — tied to the embedding
     * when tie_word_embeddings) around the given layers.
     */
    public static Decoder load(ModelConfig c, Checkpoint w, List<DecoderLayer> layers) {
        String why = "vocab_size=" + c.vocabSize() + ", hidden_size=" + c.hiddenSize();
        Matrix embed = w.matrix("model.embed_tokens.weight", c.vocabSize(), c.hiddenSize(), why);
        Matrix head = c.tieWordEmbeddings() && !w.has("lm_head.weight") ? embed
                : w.matrix("lm_head.weight", c.vocabSize(), c.hiddenSize(), why);
        float[] norm = w.vector("model.norm.weight", c.hiddenSize(), why);
        return new Decoder(c, w, embed, layers, norm, head);
    }

    @Override
    public ModelConfig config() { return config; }

    public List<DecoderLayer> layers() { return layers; }

    public Checkpoint checkpoint() { return checkpoint; }

    @Override
    public float[][] forward(int[][] sequences, RunOptions options) {
        return forward(sequences, options, Trace.NONE);
    }

    /** {@link #forward(int[][], RunOptions)} reporting activations to {@code trace}. */
    public float[][] forward(int[][] sequences, RunOptions options, Trace trace) {
        return new DecoderSession(sequences.length, options).append(sequences, trace, false);
    }

    @Override
    public DecoderSession newSession(int batch, RunOptions options) {
        return new DecoderSession(batch, options);
    }

    @Override
    public void close() {
        checkpoint.close();
    }

    /** A KV cache per layer for a batch of sequences, and the step buffers ({@link Scratch}) its steps reuse. */
    public final class DecoderSession implements Session {
        private final RunOptions options;
        private final Object[] caches;
        private final int[] lengths;
        private final Scratch scratch;
        private Batch lastBatch;     // the previous step's batch, refilled when the next has its shape (Batch.of)
        private Step lastStep;       // the previous step's Step, the same again while its batch and trace are

        DecoderSession(int batch, RunOptions options) {
            this.options = options;
            this.lengths = new int[batch];
            this.caches = new Object[layers.size()];
            for (int l = 0; l < caches.length; l++) caches[l] = layers.get(l).attention().newCache(batch);
            this.scratch = new Scratch();
        }

        private DecoderSession(RunOptions options, Object[] caches, int[] lengths, Scratch scratch) {
            this.options = options;
            this.caches = caches;
            this.lengths = lengths;
            this.scratch = scratch;
        }

        @Override
        public DecoderSession fork(int[] sources) {
            int[] forkedLengths = new int[sources.length];
            for (int i = 0; i < sources.length; i++) {
                if (sources[i] < 0 || sources[i] >= lengths.length) {
                    throw new IllegalArgumentException("fork source " + sources[i] + " (row " + i + ") is outside the session's "
                            + lengths.length + " sequences");
                }
                forkedLengths[i] = lengths[sources[i]];
            }
            Object[] forked = new Object[caches.length];
            for (int l = 0; l < caches.length; l++) forked[l] = layers.get(l).attention().forkCache(caches[l], sources, lengths);
            return new DecoderSession(options, forked, forkedLengths, new Scratch());
        }

        @Override
        public float[][] append(int[][] tokens) {
            return append(tokens, Trace.NONE, false);
        }

        @Override
        public float[][] appendLast(int[][] tokens) {
            return append(tokens, Trace.NONE, true);
        }

        /** As {@link Session#appendLast(int[][], float[][])}: the LM head writes each sequence's row straight into {@code into}. */
        @Override
        public void appendLast(int[][] tokens, float[][] into) {
            for (int b = 0; b < tokens.length; b++) {
                if (tokens[b].length > 0 && (into[b] == null || into[b].length < config.vocabSize())) {
                    throw new IllegalArgumentException("appendLast: sequence " + b + "'s logits array holds "
                            + (into[b] == null ? "nothing" : into[b].length + " floats") + ", the vocabulary " + config.vocabSize());
                }
            }
            float[] x = step(tokens, Trace.NONE);
            lastLogits(tokens, x, into);
        }

        @Override
        public int length(int b) { return lengths[b]; }

        @Override
        public void reserve(int b, int length) {
            java.util.Objects.checkIndex(b, lengths.length);
            for (int l = 0; l < caches.length; l++) layers.get(l).attention().reserveCache(caches[l], b, length);
        }

        @Override
        public void reset(int b) {
            java.util.Objects.checkIndex(b, lengths.length);
            for (int l = 0; l < caches.length; l++) layers.get(l).attention().resetCache(caches[l], b);
            lengths[b] = 0;
        }

        /** The same caches and step buffers under other options (the two must not run steps at the same time). */
        @Override
        public DecoderSession withOptions(RunOptions other) {
            return new DecoderSession(other, caches, lengths, scratch);
        }

        /**
         * Logits per sequence: every appended position [n x vocab], or only the last one [vocab].
         * The returned arrays are the caller's; everything else lives in the session's {@link Scratch}.
         */
        public float[][] append(int[][] tokens, Trace trace, boolean lastOnly) {
            float[] x = step(tokens, trace);
            int v = config.vocabSize();
            float[][] logits = new float[tokens.length][];
            if (lastOnly) {
                for (int b = 0; b < tokens.length; b++) logits[b] = new float[tokens[b].length == 0 ? 0 : v];
                lastLogits(tokens, x, logits);
            } else {
                int t = 0;
                for (int[] seq : tokens) t += seq.length;
                float[] out = new float[t * v];
                MatMul.matmul(x, t, lmHead, out);
                for (int b = 0, start = 0; b < tokens.length; start += tokens[b].length, b++) {
                    logits[b] = tokens.length == 1 ? out : java.util.Arrays.copyOfRange(out, start * v, (start + tokens[b].length) * v);
                }
                PhaseClock.lap(Phase.LM_HEAD);
            }
            return logits;
        }

        /**
         * One forward step: the batch's tokens through the layers into the KV caches; returns the
         * final-normed hidden states [tokens x hidden] ({@link Scratch.Buffer#HIDDEN}) and counts
         * the tokens into the sequences' lengths.
         */
        private float[] step(int[][] tokens, Trace trace) {
            if (tokens.length != lengths.length) {
                throw new IllegalArgumentException("session holds " + lengths.length + " sequences but " + tokens.length + " were given");
            }
            Batch batch = lastBatch = Batch.of(tokens, lengths, lastBatch);
            scratch.beginStep();
            float[] x = hidden(tokens, batch, trace);
            for (int b = 0; b < tokens.length; b++) lengths[b] += tokens[b].length;
            return x;
        }

        /**
         * The LM head over each sequence's last row of {@code x} (the step's final-normed hidden
         * states), into {@code into[b]} [vocab]; a sequence given no tokens is skipped. One row (a
         * batch-1 decode step) goes straight into its array; several rows go through
         * {@link Scratch.Buffer#LOGITS}, as one matmul.
         */
        private void lastLogits(int[][] tokens, float[] x, float[][] into) {
            int h = config.hiddenSize(), v = config.vocabSize(), rows = 0, t = 0;
            for (int[] seq : tokens) {
                if (seq.length > 0) rows++;
                t += seq.length;
            }
            if (rows == 0) return;
            float[] last = x;                          // one token per sequence (decode): x already holds the last rows
            if (rows != t) {
                last = scratch.get(Scratch.Buffer.LAST, rows * h);
                for (int b = 0, r = 0, end = 0; b < tokens.length; b++) {
                    end += tokens[b].length;
                    if (tokens[b].length > 0) System.arraycopy(x, (end - 1) * h, last, r++ * h, h);
                }
            }
            if (rows == 1) {
                int b = 0;
                while (tokens[b].length == 0) b++;
                MatMul.matmul(last, 1, lmHead, into[b]);
            } else {
                float[] out = scratch.get(Scratch.Buffer.LOGITS, rows * v);
                MatMul.matmul(last, rows, lmHead, out);
                for (int b = 0, r = 0; b < tokens.length; b++) {
                    if (tokens[b].length > 0) System.arraycopy(out, r++ * v, into[b], 0, v);
                }
            }
            PhaseClock.lap(Phase.LM_HEAD);
        }

        /** Rows [r0, r1) of x [tokens x hidden]: the embeddings of the batch's tokens (row r is sequence sequenceOf[r]'s token r - start[...]). */
        private void embedRows(int[][] tokens, int[] sequenceOf, int[] start, float[] x, int r0, int r1) {
            int h = config.hiddenSize();
            for (int r = r0; r < r1; r++) embed.row(tokens[sequenceOf[r]][r - start[sequenceOf[r]]], x, r * h);
        }

        /**
         * The layer loop; returns the final-normed hidden states [tokens x hidden] (the session's
         * {@link Scratch.Buffer#HIDDEN}). Each residual add is fused with the RMSNorm that follows
         * it ({@link RmsNorm#addApply}), parallel over rows.
         */
        private float[] hidden(int[][] tokens, Batch batch, Trace trace) {
            int t = batch.tokens(), h = config.hiddenSize();
            float[] x = scratch.get(Scratch.Buffer.HIDDEN, t * h);
            for (int b = 0; b < tokens.length; b++) {
                for (int j = 0; j < tokens[b].length; j++) {
                    int id = tokens[b][j];
                    if (id < 0 || id >= config.vocabSize()) {
                        throw new IllegalArgumentException("token id " + id + " (sequence " + b + ", position " + j
                                + ") is outside the vocabulary 0.." + (config.vocabSize() - 1));
                    }
                }
            }
            int[] sequenceOf = batch.sequenceOf(), start = batch.start();
            int grain = (int) Math.max(1, Parallel.MIN_TASK_WORK / h);
            if (t <= grain) {                            // one chunk (a decode step): no phase, no lambda
                embedRows(tokens, sequenceOf, start, x, 0, t);
            } else {
                Parallel.current().forRange(t, grain, (r0, r1) -> embedRows(tokens, sequenceOf, start, x, r0, r1));
            }
            trace.hidden(0, x, t);
            Step step = lastStep != null && lastStep.batch() == batch && lastStep.trace() == trace ? lastStep
                    : (lastStep = new Step(batch, options, trace, scratch));
            float[] normed = scratch.get(Scratch.Buffer.NORMED, t * h), out = scratch.get(Scratch.Buffer.BLOCK_OUT, t * h);
            double eps = config.rmsNormEps();
            int n = layers.size();
            DotMode dot = checkpoint.dot();
            RmsNorm.apply(x, layers.get(0).inputNorm(), eps, t, normed, dot);
            for (int l = 0; l < n; l++) {
                DecoderLayer layer = layers.get(l);
                PhaseClock.lap(Phase.OTHER);
                layer.attention().forward(normed, step, caches[l], out);
                PhaseClock.lap(Phase.ATTENTION);
                RmsNorm.addApply(x, out, layer.postAttentionNorm(), eps, t, normed, dot);
                PhaseClock.lap(Phase.OTHER);
                layer.ffn().forward(normed, t, step, out);
                PhaseClock.lap(Phase.EXPERTS);           // a dense MLP, or what an MoE block's own laps left
                if (l < n - 1) {
                    RmsNorm.addApply(x, out, layers.get(l + 1).inputNorm(), eps, t, normed, dot);
                    trace.hidden(l + 1, x, t);
                } else {
                    PhaseClock.lap(Phase.OTHER);
                    RmsNorm.addApply(x, out, norm, eps, t, x, dot);
                    PhaseClock.lap(Phase.LM_HEAD);       // the final norm
                }
            }
            trace.hidden(n, x, t);
            return x;
        }
    }
}
