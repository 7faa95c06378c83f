package capmoe.cli;

import capmoe.model.CausalLM;
import capmoe.model.Models;
import capmoe.model.ReferenceCheck;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * {@code capmoe check --model DIR --reference FILE}: re-runs the inputs recorded in a reference
 * file of the HF fixtures' format and compares every tensor; exit code 1 on any failure.
 */
@Command(name = "check", mixinStandardHelpOptions = true,
        description = "Compare the engine with a recorded reference (reference.safetensors).")
public final class CheckCommand implements Callable<Integer> {

    @Mixin ModelOption model;

    @Option(names = "--reference", description = "the reference file (default: the one in the --model folder)") Path reference;

    @Override
    public Integer call() {
        Path model = this.model.require();
        Path ref = reference != null ? reference : model.resolve("reference.safetensors");
        if (!Files.exists(ref)) throw new IllegalArgumentException("reference file " + ref + " does not exist");
        List<ReferenceCheck.Result> results;
        try (CausalLM m = Models.load(model, null, this.model.weights())) {
            results = ReferenceCheck.run(m, ref);
        }
        int passed = 0, failed = 0;
        System.out.printf(Locale.ROOT, "%-34s %12s  %s%n", "tensor", "err/max|ref|", "result (tolerance " + ReferenceCheck.TOLERANCE + ")");
        for (ReferenceCheck.Result r : results) {
            if (r.passed()) passed++; else failed++;
            String rel = r.name().equals("generate.output") ? (int) r.maxAbsError() + " tokens"
                    : String.format(Locale.ROOT, "%.2e", r.relativeError());
            System.out.printf(Locale.ROOT, "%-34s %12s  %s  %s%n", r.name(), rel, r.passed() ? "ok  " : "FAIL", r.detail());
        }
        System.out.printf(Locale.ROOT, "%d passed, %d failed%n", passed, failed);
        return failed == 0 ? 0 : 1;
    }
}
