package capmoe.model.nn;

import capmoe.model.RunOptions;
import capmoe.model.Trace;

/** What every block of one forward step may need besides its input rows. */
public record Step(Batch batch, RunOptions options, Trace trace) { }
