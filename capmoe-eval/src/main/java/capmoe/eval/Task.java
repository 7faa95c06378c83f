package capmoe.eval;

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
     * Non-overlapping windows of {@code seq} tokens of one text encoded whole, {@code batch} windows
     * per forward pass, perplexity = exp(mean NLL of the seq-1 next-token predictions per window):
     * the rule of the olmoe-tiny reference numbers (shared/models/README.md). {@code limit} = the
     * first windows only (0 = every full window).
     */
    record TokenWindows(String name, String text, int seq, int batch, int limit) implements Task { }
}
