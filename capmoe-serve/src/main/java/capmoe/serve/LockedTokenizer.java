package capmoe.serve;

import capmoe.tokenizer.Tokenizer;

/** A tokenizer shared by the connections (encoding prompts) and the scheduler (decoding text), one call at a time. */
final class LockedTokenizer implements Tokenizer {
    private final Tokenizer inner;

    LockedTokenizer(Tokenizer inner) { this.inner = inner; }

    @Override
    public synchronized int[] encode(String text) { return inner.encode(text); }

    @Override
    public synchronized String decode(int[] ids) { return inner.decode(ids); }

    @Override
    public int vocabSize() { return inner.vocabSize(); }
}
