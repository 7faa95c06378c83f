package capmoe.cli;

import capmoe.runtime.mpi.MpiRun;
import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code mpirun -np 2 capmoe generate}: greedy decoding with the KV cache through the MPI runtime
 * prints the same token ids as the single-process command, and only rank 0 prints them.
 */
class GenerateRanksTest {

    @Test
    void greedyIdsEqualTheSingleProcessOnes() {
        Path model = Shared.require("fixtures/hf/olmoe");
        String[] args = {"generate", "--model", model.toString(), "--prompt-ids", "3,17,5,99,42", "--max-tokens", "6",
                "--ignore-eos", "--policy", "score@1.0"};
        PrintStream saved = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        int code;
        try {
            System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
            code = Main.run(args);
        } finally {
            System.setOut(saved);
        }
        assertEquals(0, code);
        String single = captured.toString(StandardCharsets.UTF_8).strip();
        assertTrue(single.matches("\\d+(,\\d+){5}"), single);

        MpiRun.Result r = MpiRun.of(Main.class, args).ranks(2).timeout(Duration.ofSeconds(120)).run().assertSucceeded();
        assertEquals(single, r.ranks().get(0).stream().filter(l -> l.matches("\\d+(,\\d+)*")).findFirst().orElse(""), r.all());
        assertTrue(r.ranks().get(1).stream().noneMatch(l -> l.matches("\\d+(,\\d+)*")), "rank 1 printed ids:\n" + r.all());
    }
}
