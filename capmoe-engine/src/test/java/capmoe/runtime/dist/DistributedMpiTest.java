package capmoe.runtime.dist;

import capmoe.runtime.mpi.MpiRun;
import capmoe.testing.Shared;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The multi-process runtime under a real {@code mpirun}: one job per rank count and transport
 * loops over all six HF fixtures, seven policies, both capacity scopes and KV-cached decode
 * ({@link DistEqualityRanks}), bit for bit against one process.
 */
class DistributedMpiTest {


    private static void run(int ranks, MpiRun.Transport transport) {
        Path hf = Shared.require("fixtures/hf");
        MpiRun.Result r = MpiRun.of(DistEqualityRanks.class, hf.toString())
                .ranks(ranks).transport(transport).timeout(Duration.ofMinutes(5)).run();
        r.assertSucceeded();
        String summary = r.rankLine(0, "dist-equality:").orElseThrow(() -> new AssertionError("no summary line:\n" + r.all()));
        int perFixture = DistEqualityRanks.POLICIES.size() * CapacityScope.values().length + DistEqualityRanks.BF16_POLICIES.size()
                + DistEqualityRanks.DECODE_POLICIES.size();
        assertTrue(summary.equals("dist-equality: " + 6 * perFixture + " cases, 0 failures"), summary + "\n" + r.all());
        // bf16 rows really are rounded: the logits move. No upper bound here: a rounding can flip a
        // top-k choice or a capacity cut at a later layer, which moves a logit by any amount; the
        // bf16 run's exactness is the bit-for-bit match above, its cost a quality figure (README)
        String bf16 = r.rankLine(0, "bf16-wire:").orElseThrow(() -> new AssertionError("no bf16-wire line:\n" + r.all()));
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("= (\\d\\.\\d\\de[-+]\\d+) over").matcher(bf16);
        assertTrue(m.find() && Double.parseDouble(m.group(1)) > 0, bf16);
        String differs = r.rankLine(0, "scope-differs:").orElseThrow();
        assertTrue(!differs.startsWith("scope-differs: local != global logits in 0 of"), differs);
        for (int rank = 0; rank < ranks; rank++) {
            assertTrue(r.rankLine(rank, "resident olmoe rank " + rank + ":").isPresent(), "rank " + rank + " resident bytes:\n" + r.all());
        }
    }

    @Test
    void twoRanksOnSharedMemoryEqualOneProcessBitForBit() {
        run(2, MpiRun.Transport.SHARED_MEMORY);
    }

    @Test
    void fourRanksOversubscribedOnTcpEqualOneProcessBitForBit() {
        run(4, MpiRun.Transport.TCP);
    }
}
