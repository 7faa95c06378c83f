package capmoe.model.nn;

import capmoe.model.RunOptions;
import capmoe.model.Trace;

/**
 * What every block of one forward step may need besides its input rows: the batch layout, how
 * to run the MoE layers, who watches the activations, and the session's {@link Scratch} buffers.
 */
public record Step(Batch batch, RunOptions options, Trace trace, Scratch scratch) {

    /** A step with buffers of its own (a block run outside a session, e.g. in a test). */
    public Step(Batch batch, RunOptions options, Trace trace) {
        this(batch, options, trace, new Scratch());
    }
}
