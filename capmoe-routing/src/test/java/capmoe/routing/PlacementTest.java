package capmoe.routing;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.*;

/** Expert placement: contiguous blocks, explicit maps from strings and files, and their errors. */
class PlacementTest {
    @TempDir Path dir;

    @Test
    void contiguousBlocks() {
        assertArrayEquals(new int[] {0, 0, 1, 1, 2, 2, 3, 3}, Placement.contiguous(8, 4).deviceOf());
        // 10 experts on 4 devices: floor(e*4/10) -> block sizes 3, 2, 3, 2
        assertArrayEquals(new int[] {0, 0, 0, 1, 1, 2, 2, 2, 3, 3}, Placement.contiguous(10, 4).deviceOf());
        assertArrayEquals(new int[] {3, 2, 3, 2}, Placement.contiguous(10, 4).expertsPerDevice());
        assertArrayEquals(new int[8], Placement.contiguous(8, 1).deviceOf());
    }

    @Test
    void explicitMapsFromStrings() {
        assertEquals(Placement.contiguous(8, 4), Placement.parse("contiguous:4", 8));
        assertEquals(Placement.contiguous(8, 2), Placement.parse("2", 8));
        Placement p = Placement.parse("0, 1, 0, 1", 4);
        assertEquals(2, p.devices());
        assertArrayEquals(new int[] {0, 1, 0, 1}, p.deviceOf());
        assertEquals(new Placement(4, 2, new int[] {0, 1, 0, 1}), Placement.of(0, 1, 0, 1));
    }

    @Test
    void explicitMapsFromFiles() throws IOException {
        Path f = dir.resolve("map.txt");
        Files.writeString(f, "# experts 0..3 on device 1, 4..7 on device 0\n1 1 1 1\n0,0,0,0  # trailing comment\n\n");
        Placement p = Placement.read(f, 8);
        assertArrayEquals(new int[] {1, 1, 1, 1, 0, 0, 0, 0}, p.deviceOf());
        assertEquals(2, p.devices());
    }

    static void rejects(Path f, String text, int experts, String fragment) throws IOException {
        Files.writeString(f, text);
        var e = assertThrows(IllegalArgumentException.class, () -> Placement.read(f, experts));
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
        assertTrue(e.getMessage().contains(f.toString()), "names the file: " + e.getMessage());
    }

    @Test
    void badPlacementFiles() throws IOException {
        Path f = dir.resolve("bad.txt");
        rejects(f, "0 0 1", 4, "lists 3 experts but the router has 4");
        rejects(f, "0 0\n1 1 2", 4, "line 2: more than the 4 expected device ids");
        rejects(f, "0 0\n1 x", 4, "line 2: 'x' is not a device id");
        rejects(f, "0 0 -1 1", 4, "expert 2 is on device -1");
        var e = assertThrows(IllegalArgumentException.class, () -> Placement.read(dir.resolve("none.txt"), 4));
        assertTrue(e.getMessage().contains("no such file"), e.getMessage());
    }

    @Test
    void theMapIsCopiedNotShared() {
        int[] map = {0, 1};
        Placement p = new Placement(2, 2, map);
        map[0] = 1;
        assertEquals(0, p.device(0));
        p.deviceOf()[1] = 0;
        assertEquals(1, p.device(1));
    }
}
