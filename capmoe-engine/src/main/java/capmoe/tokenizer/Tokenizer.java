package capmoe.tokenizer;

/** A Hugging Face tokenizer ({@code tokenizer.json}). */
public interface Tokenizer {
    /** Encodes text without adding special tokens. */
    int[] encode(String text);

    String decode(int[] ids);

    int vocabSize();
}
