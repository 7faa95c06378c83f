package capmoe.eval;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.MalformedInputException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * An evaluation task after its data has been read and its lm-eval prompt format applied: plain
 * strings, not yet tokenized. The kinds follow lm-eval's output types.
 */
public sealed interface Task permits Task.MultipleChoice, Task.RollingPerplexity, Task.LastWord, Task.TokenWindows {

    String name();

    /** lm-eval {@code multiple_choice}: score each choice's continuation; report acc (and acc_norm). */
    record MultipleChoice(String name, List<Doc> docs, boolean accNorm) implements Task {
        public MultipleChoice {
            docs = List.copyOf(docs);
        }
    }

    /**
     * One multiple-choice item. Choice i is scored as log P(continuations[i] | contexts[i]).
     * Usually every context is the same prompt; winogrande's partial scoring varies the context
     * and keeps the continuation. {@code choiceTexts} are what acc_norm divides by (their UTF-8
     * byte length), the choice without the target delimiter, as lm-eval does.
     */
    record Doc(List<String> contexts, List<String> continuations, List<String> choiceTexts, int gold) {
        public Doc {
            contexts = List.copyOf(contexts);
            continuations = List.copyOf(continuations);
            choiceTexts = List.copyOf(choiceTexts);
            if (contexts.size() != continuations.size() || contexts.size() != choiceTexts.size()) {
                throw new IllegalArgumentException("contexts, continuations and choice texts differ in count");
            }
            if (gold < 0 || gold >= contexts.size()) throw new IllegalArgumentException("gold " + gold + " out of range");
        }
    }

    /**
     * lm-eval {@code loglikelihood_rolling} (wikitext): each document is scored whole in rolling
     * windows. {@code target} is the text scored; words and bytes are counted on {@code original}
     * (lm-eval counts them on the page before detokenization).
     */
    record RollingPerplexity(String name, List<Page> pages) implements Task {
        public RollingPerplexity {
            pages = List.copyOf(pages);
        }
    }

    record Page(String original, String target) { }

    /** lm-eval {@code loglikelihood} with a greedy check (LAMBADA): acc = last word is the greedy completion. */
    record LastWord(String name, List<Pair> docs) implements Task {
        public LastWord {
            docs = List.copyOf(docs);
        }
    }

    record Pair(String context, String continuation) { }

    /**
     * Non-overlapping windows of a plain-text file (the rule of the PyTorch reference numbers of
     * olmoe-tiny and olmoe-small, shared/models/README.md):
     * <ol>
     *   <li>the whole file is encoded once, no special tokens added (no BOS);</li>
     *   <li>window w is tokens [w·seq, (w+1)·seq); the tokens after the last full window are not
     *       scored, and {@code limit} > 0 keeps the first {@code limit} windows only;</li>
     *   <li>{@code batch} consecutive windows go through one forward pass, so a capacity policy
     *       computes C over those batch·seq tokens (the last batch may be smaller);</li>
     *   <li>in each window positions 0..seq-2 predict tokens 1..seq-1 (the first token of a window
     *       is context only); perplexity = exp(total NLL / (windows · (seq-1))).</li>
     * </ol>
     * Windows do not overlap and carry no context across their boundary, unlike lm-eval's rolling
     * windows of the {@code wikitext} task ({@link RollingWindows}).
     *
     * @param name the task name ({@code wikitext-windows}, or {@code text:PATH} as given to --tasks)
     * @param file the file the text was read from (reference results name it)
     */
    record TokenWindows(String name, Path file, String text, int seq, int batch, int limit) implements Task {

        /** Reads {@code file} as UTF-8; a missing or unreadable file is one clear line naming it. */
        public static TokenWindows of(String name, Path file, int seq, int batch, int limit) {
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException(name + ": no such file " + file.toAbsolutePath().normalize());
            }
            try {
                return new TokenWindows(name, file, Files.readString(file), seq, batch, limit);
            } catch (MalformedInputException e) {
                throw new IllegalArgumentException(name + ": " + file + " is not UTF-8 text");
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot read " + file + ": " + e.getMessage(), e);
            }
        }
    }
}
