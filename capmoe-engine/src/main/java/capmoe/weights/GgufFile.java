package capmoe.weights;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file (llama.cpp's model format, versions 2 and 3), memory-mapped with FFM; tensors are
 * views of the mapping, never copies. Layout, as llama.cpp's {@code ggml/src/gguf.cpp} reads it
 * ({@code gguf_init_from_file_impl}) and gguf-py's {@code gguf_writer.py} writes it, little-endian:
 * <ol>
 *   <li>header: magic {@code "GGUF"}, uint32 version, uint64 tensor count, uint64 metadata count;
 *   <li>metadata: per entry a string key, a uint32 value type and the value (strings are a uint64
 *       length plus UTF-8 bytes; arrays a uint32 element type, a uint64 count and the elements);
 *   <li>tensor infos: name, uint32 n_dims, n_dims × uint64 ne (ne[0] varies fastest), uint32 ggml type,
 *       uint64 offset into the data section;
 *   <li>padding to {@code general.alignment} (default 32), then the data section; every offset is
 *       a multiple of the alignment.
 * </ol>
 * Every read is bounds-checked: a truncated or corrupt file gives one error naming the file, what
 * was being read and where. Shapes are reported in HF order (slowest dimension first), the reverse of ne.
 */
public final class GgufFile {
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int MAGIC = 0x46554747;   // "GGUF" read as a little-endian uint32
    private static final int DEFAULT_ALIGNMENT = 32;

    private final Path path;
    private final int version;
    private final Map<String, Object> metadata;
    private final Map<String, Tensor> tensors;

    private GgufFile(Path path, int version, Map<String, Object> metadata, Map<String, Tensor> tensors) {
        this.path = path;
        this.version = version;
        this.metadata = metadata;
        this.tensors = tensors;
    }

    /** True when {@code file} is a regular file that starts with the GGUF magic. */
    public static boolean isGguf(Path file) {
        if (!Files.isRegularFile(file)) return false;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
            return ch.read(b) == 4 && b.getInt(0) == MAGIC;
        } catch (IOException e) {
            return false;
        }
    }

    /** Maps and validates {@code path}; the mapping lives as long as {@code arena}. */
    public static GgufFile open(Path path, Arena arena) {
        if (!Files.isRegularFile(path)) throw new IllegalArgumentException("GGUF file " + path + " does not exist");
        MemorySegment file;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            file = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + path + ": " + e.getMessage(), e);
        }
        return new Reader(path, file).read();
    }

    public Path path() { return path; }

    public int version() { return version; }

    /** Metadata values: Long (integer types), Double (float types), Boolean, String, or List of those. */
    public Map<String, Object> metadata() { return metadata; }

    /** Tensors by their GGUF name, in file order. */
    public Map<String, Tensor> tensors() { return tensors; }

    public boolean has(String key) { return metadata.containsKey(key); }

    /** A string value, or a clear error naming the key. */
    public String string(String key) {
        return typed(key, String.class, "a string");
    }

    /** An integer value (any GGUF integer type), or a clear error. */
    public long integer(String key) {
        return typed(key, Long.class, "an integer");
    }

    public long integer(String key, long dflt) { return has(key) ? integer(key) : dflt; }

    /** A float value (FLOAT32/FLOAT64; integers are accepted too). */
    public double number(String key) {
        Object v = metadata.get(key);
        if (v instanceof Long l) return l;
        return typed(key, Double.class, "a number");
    }

    public double number(String key, double dflt) { return has(key) ? number(key) : dflt; }

    public boolean bool(String key, boolean dflt) { return has(key) ? typed(key, Boolean.class, "true or false") : dflt; }

    /** An array value, or a clear error. */
    public List<?> array(String key) {
        return typed(key, List.class, "an array");
    }

    private <T> T typed(String key, Class<T> type, String what) {
        Object v = metadata.get(key);
        if (v == null) throw new IllegalArgumentException(path + ": missing metadata key " + key);
        if (!type.isInstance(v)) throw new IllegalArgumentException(path + ": metadata key " + key + " must be " + what + ", got " + v);
        return type.cast(v);
    }

    /** ggml type id → capmoe dtype ({@code ggml/include/ggml.h} enum ggml_type), or null when capmoe cannot compute with it. */
    static DType dtype(int ggmlType) {
        return switch (ggmlType) {
            case 0 -> DType.F32;
            case 1 -> DType.F16;
            case 2 -> DType.Q4_0;
            case 8 -> DType.Q8_0;
            case 30 -> DType.BF16;
            default -> null;
        };
    }

    /** The ggml type id of a dtype capmoe writes (inverse of {@link #dtype(int)}). */
    public static int ggmlType(DType d) {
        return switch (d) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q8_0 -> 8;
            case BF16 -> 30;
            default -> throw new IllegalArgumentException(d + " has no GGUF tensor type");
        };
    }

    private static final String[] GGML_NAMES = {"F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
            "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",
            "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16"};

    static String ggmlName(int type) {
        return type >= 0 && type < GGML_NAMES.length ? GGML_NAMES[type] : "type " + type;
    }

    /** A bounds-checked cursor over the mapped bytes. */
    private static final class Reader {
        private final Path path;
        private final MemorySegment file;
        private final long size;
        private long pos;
        private String what = "the header";

        Reader(Path path, MemorySegment file) {
            this.path = path;
            this.file = file;
            this.size = file.byteSize();
        }

        private IllegalArgumentException bad(String msg) {
            return new IllegalArgumentException(path + ": " + msg);
        }

        private void need(long n) {
            if (n < 0 || pos + n > size || pos + n < pos) {
                throw bad("truncated: " + what + " needs " + n + " bytes at offset " + pos + " but the file has " + size + " bytes");
            }
        }

        private int u32() { need(4); int v = file.get(U32, pos); pos += 4; return v; }

        private long u64() { need(8); long v = file.get(U64, pos); pos += 8; return v; }

        /** A uint64 count that must fit in the rest of the file at {@code minBytes} per item. */
        private long count(String of, long minBytes) {
            long n = u64();
            if (n < 0 || (minBytes > 0 && n > (size - pos) / minBytes)) {
                throw bad("truncated or corrupt: " + what + " declares " + Long.toUnsignedString(n) + " " + of + " at offset "
                        + (pos - 8) + ", more than the " + (size - pos) + " bytes left can hold");
            }
            return n;
        }

        private String string() {
            long n = count("string bytes", 1);
            need(n);
            byte[] b = file.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
            pos += n;
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .decode(java.nio.ByteBuffer.wrap(b)).toString();
            } catch (CharacterCodingException e) {
                throw bad("corrupt: " + what + " holds a string that is not UTF-8 (at offset " + (pos - n) + ")");
            }
        }

        private Object value(int type) {
            return switch (type) {
                case 0 -> { need(1); yield (long) (file.get(ValueLayout.JAVA_BYTE, pos++) & 0xFF); }
                case 1 -> { need(1); yield (long) file.get(ValueLayout.JAVA_BYTE, pos++); }
                case 2 -> { need(2); long v = file.get(U16, pos) & 0xFFFF; pos += 2; yield v; }
                case 3 -> { need(2); long v = file.get(U16, pos); pos += 2; yield v; }
                case 4 -> Integer.toUnsignedLong(u32());
                case 5 -> (long) u32();
                case 6 -> (double) Float.intBitsToFloat(u32());
                case 7 -> {
                    need(1);
                    byte b = file.get(ValueLayout.JAVA_BYTE, pos++);
                    if (b != 0 && b != 1) throw bad("corrupt: " + what + " has a bool of value " + b);
                    yield b == 1;
                }
                case 8 -> string();
                case 9 -> {
                    int elem = u32();
                    if (elem == 9) throw bad("corrupt: " + what + " is an array of arrays, which GGUF does not allow");
                    long n = count("array elements", minBytes(elem));
                    List<Object> list = new ArrayList<>((int) Math.min(n, 1 << 20));
                    for (long i = 0; i < n; i++) list.add(value(elem));
                    yield Collections.unmodifiableList(list);
                }
                case 10, 11 -> u64();
                case 12 -> Double.longBitsToDouble(u64());
                default -> throw bad("corrupt: " + what + " has unknown value type " + type);
            };
        }

        private long minBytes(int type) {
            return switch (type) {
                case 0, 1, 7 -> 1;
                case 2, 3 -> 2;
                case 4, 5, 6 -> 4;
                case 8, 10, 11, 12 -> 8;
                default -> throw bad("corrupt: " + what + " has an array of unknown value type " + type);
            };
        }

        GgufFile read() {
            need(4);
            if (file.get(U32, 0) != MAGIC) {
                throw bad("not a GGUF file (the first 4 bytes are not \"GGUF\")");
            }
            pos = 4;
            int version = u32();
            if (version != 2 && version != 3) throw bad("GGUF version " + version + " is not supported (2 or 3)");
            long tensorCount = count("tensors", 8 + 4 + 8 + 4 + 8);
            long kvCount = count("metadata entries", 8 + 4);

            Map<String, Object> metadata = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                what = "metadata entry " + i;
                String key = string();
                what = "metadata key " + key;
                Object v = value(u32());
                if (metadata.putIfAbsent(key, v) != null) throw bad("corrupt: metadata key " + key + " appears twice");
            }
            long alignment = DEFAULT_ALIGNMENT;
            Object a = metadata.get("general.alignment");
            if (a != null) {
                if (!(a instanceof Long l) || l <= 0 || Long.bitCount(l) != 1) {
                    throw bad("corrupt: general.alignment must be a power of two, got " + a);
                }
                alignment = l;
            }

            record Info(String name, int type, long[] ne, long offset) { }
            List<Info> infos = new ArrayList<>();
            for (long i = 0; i < tensorCount; i++) {
                what = "tensor info " + i;
                String name = string();
                what = "tensor info " + i + " (" + name + ")";
                int dims = u32();
                if (dims < 1 || dims > 4) throw bad("corrupt: tensor " + name + " has " + dims + " dimensions (1..4)");
                long[] ne = new long[dims];
                for (int d = 0; d < dims; d++) {
                    ne[d] = u64();
                    if (ne[d] <= 0) throw bad("corrupt: tensor " + name + " has dimension ne[" + d + "] = " + Long.toUnsignedString(ne[d]));
                }
                infos.add(new Info(name, u32(), ne, u64()));
            }
            long dataStart = (pos + alignment - 1) / alignment * alignment;
            if (dataStart > size) {
                throw bad("truncated: the data section would start at offset " + dataStart + " but the file has " + size + " bytes");
            }
            long dataLen = size - dataStart;

            Map<String, Tensor> tensors = new LinkedHashMap<>();
            record Span(String name, long begin, long end) { }
            List<Span> spans = new ArrayList<>();
            for (Info t : infos) {
                DType dtype = dtype(t.type());
                if (dtype == null) {
                    throw bad("tensor " + t.name() + " is " + ggmlName(t.type()) + "; capmoe reads F32, F16, BF16, Q8_0 and Q4_0"
                            + " (re-quantize with llama-quantize --pure, or convert with --outtype q8_0)");
                }
                if (t.ne()[0] % dtype.blockSize() != 0) {
                    throw bad("corrupt: tensor " + t.name() + " is " + dtype + " but its rows of " + t.ne()[0]
                            + " values are not whole blocks of " + dtype.blockSize());
                }
                long elements = 1;
                long[] shape = new long[t.ne().length];
                try {
                    for (int d = 0; d < t.ne().length; d++) {
                        elements = Math.multiplyExact(elements, t.ne()[d]);
                        shape[shape.length - 1 - d] = t.ne()[d];
                    }
                } catch (ArithmeticException e) {
                    throw bad("corrupt: tensor " + t.name() + " has " + Arrays.toString(t.ne()) + " elements, too many");
                }
                long bytes = dtype.bytes(elements);
                if (t.offset() < 0 || t.offset() % alignment != 0) {
                    throw bad("corrupt: tensor " + t.name() + " starts at data offset " + Long.toUnsignedString(t.offset())
                            + ", not a multiple of the alignment " + alignment);
                }
                if (t.offset() > dataLen || bytes > dataLen - t.offset()) {
                    throw bad("truncated: tensor " + t.name() + " (" + dtype + " " + Arrays.toString(shape) + ", " + bytes
                            + " bytes at data offset " + t.offset() + ") ends past the end of the file's " + dataLen + "-byte data section");
                }
                if (tensors.containsKey(t.name())) throw bad("corrupt: tensor " + t.name() + " appears twice");
                spans.add(new Span(t.name(), t.offset(), t.offset() + bytes));
                tensors.put(t.name(), new Tensor(t.name(), dtype, shape, file.asSlice(dataStart + t.offset(), bytes), path));
            }
            spans.sort(Comparator.comparingLong(Span::begin));
            for (int i = 1; i < spans.size(); i++) {
                if (spans.get(i).begin() < spans.get(i - 1).end()) {
                    throw bad("corrupt: tensors " + spans.get(i - 1).name() + " and " + spans.get(i).name() + " overlap in the data section");
                }
            }
            return new GgufFile(path, version, Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(tensors));
        }
    }
}
