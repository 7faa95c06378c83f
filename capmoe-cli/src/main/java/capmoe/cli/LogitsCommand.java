package capmoe.cli;

import capmoe.model.CausalLM;
import capmoe.model.LogitsFile;
import capmoe.model.Models;
import capmoe.tokenizer.HfTokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/**
 * {@code capmoe logits --model M --text FILE --tokens N --out F.f32}: the first N tokens of a text
 * file (or --prompt-ids) in one forward pass, every position's logits written as raw float32
 * ({@link LogitsFile}); prints the token ids, comma separated, so another engine can be run on the
 * same ids (llama.cpp's --kl-divergence-base dump, but exact floats).
 */
@Command(name = "logits", mixinStandardHelpOptions = true,
        description = "Writes every position's logits of one sequence as raw float32 [tokens x vocab]; prints the token ids.")
public final class LogitsCommand implements Callable<Integer> {

    @Mixin ModelOption model;

    @Option(names = "--text", paramLabel = "FILE", description = "UTF-8 text, encoded with the model's tokenizer") Path text;
    @Option(names = "--tokens", defaultValue = "256", description = "with --text: the first N tokens (default: ${DEFAULT-VALUE})") int tokens;
    @Option(names = "--prompt-ids", split = ",", description = "token ids, comma separated (instead of --text)") int[] ids;
    @Option(names = "--out", required = true, paramLabel = "FILE", description = "raw float32 logits, [tokens x vocab], little-endian") Path out;

    @Override
    public Integer call() {
        Path model = this.model.require();
        if ((text == null) == (ids == null)) throw new IllegalArgumentException("give either --text FILE or --prompt-ids IDS");
        if (text != null) {
            if (tokens < 1) throw new IllegalArgumentException("--tokens must be >= 1, got " + tokens);
            String s;
            try {
                s = Files.readString(text);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read --text " + text + ": " + e.getMessage(), e);
            }
            try (HfTokenizer tok = HfTokenizer.load(model)) {
                int[] all = tok.encode(s);
                if (all.length < tokens) throw new IllegalArgumentException("--text " + text + " has " + all.length + " tokens, fewer than --tokens " + tokens);
                ids = Arrays.copyOf(all, tokens);
            }
        }
        try (CausalLM m = Models.load(model, null, this.model.weights())) {
            LogitsFile.Written w = LogitsFile.write(m, ids, out);
            System.out.println(Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(",")));
            System.err.println("wrote " + w.file() + ": " + w.positions() + " positions x " + w.vocab() + " logits");
        }
        return 0;
    }
}
