package capmoe.runtime.mpi;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MpiLaunchTest {

    @Test
    void noLauncherMeansNoMpi() {
        assertEquals(Optional.empty(), MpiLaunch.detect(Map.of("PATH", "/usr/bin")));
    }

    @Test
    void openMpiAndPmixLaunchers() {
        assertEquals(Optional.of(new MpiLaunch(3, 4, "OMPI_COMM_WORLD_RANK")),
                MpiLaunch.detect(Map.of("OMPI_COMM_WORLD_RANK", "3", "OMPI_COMM_WORLD_SIZE", "4", "PMIX_RANK", "3")));
        assertEquals(Optional.of(new MpiLaunch(1, 0, "PMIX_RANK")), MpiLaunch.detect(Map.of("PMIX_RANK", "1")));
        assertEquals(Optional.of(new MpiLaunch(1, 8, "PMIX_RANK")),
                MpiLaunch.detect(Map.of("PMIX_RANK", "1", "SLURM_NTASKS", "8")));
    }

    @Test
    void garbledRankNamesTheVariable() {
        MpiException e = assertThrows(MpiException.class,
                () -> MpiLaunch.detect(Map.of("OMPI_COMM_WORLD_RANK", "x")));
        assertTrue(e.getMessage().contains("OMPI_COMM_WORLD_RANK='x'"), e.getMessage());
    }
}
