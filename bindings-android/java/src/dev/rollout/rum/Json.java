package dev.rollout.rum;

import java.lang.reflect.Array;
import java.util.Date;
import java.util.Map;

/** Writes attribute and property values as JSON for the native side (one string per call). */
final class Json {
    private Json() {}

    static String write(Object value) {
        StringBuilder out = new StringBuilder();
        write(out, value, 0);
        return out.toString();
    }

    /** Null when {@code map} is null or empty (the native side then skips parsing). */
    static String object(Map<String, ?> map) {
        return map == null || map.isEmpty() ? null : write(map);
    }

    /** Whether {@code n} has a JSON number form (not NaN, not infinite as a double). */
    static boolean finite(Number n) {
        if (n instanceof Integer || n instanceof Long || n instanceof Short || n instanceof Byte) {
            return true;
        }
        double d = n.doubleValue();
        return !Double.isNaN(d) && !Double.isInfinite(d);
    }

    private static void write(StringBuilder out, Object v, int depth) {
        if (depth > 32) {
            throw new IllegalArgumentException("value nested too deeply (cycle?)");
        }
        if (v == null) {
            out.append("null");
        } else if (v instanceof Boolean) {
            out.append(v);
        } else if (v instanceof Integer || v instanceof Long || v instanceof Short
                || v instanceof Byte || v instanceof java.util.concurrent.atomic.AtomicInteger
                || v instanceof java.util.concurrent.atomic.AtomicLong) {
            out.append(v);
        } else if (v instanceof Number) {
            // JSON has no NaN or infinities. A float is written with its own shortest digits
            // (0.1f as 0.1, not the 0.10000000149011612 of its widening to double), a big
            // integer exactly; any other number (a BigDecimal, an app's own Number) as its
            // double, whose text JSON reads.
            Number n = (Number) v;
            out.append(!finite(n) ? "null"
                    : v instanceof Float ? Float.toString((Float) v)
                    : v instanceof java.math.BigInteger ? v.toString()
                    : Double.toString(n.doubleValue()));
        } else if (v instanceof Date) {
            out.append(((Date) v).getTime());
        } else if (v instanceof Map) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                string(out, text(e.getKey()));
                out.append(':');
                write(out, e.getValue(), depth + 1);
            }
            out.append('}');
        } else if (v instanceof Iterable) {
            out.append('[');
            boolean first = true;
            for (Object item : (Iterable<?>) v) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                write(out, item, depth + 1);
            }
            out.append(']');
        } else if (v.getClass().isArray()) {
            out.append('[');
            for (int i = 0, n = Array.getLength(v); i < n; i++) {
                if (i > 0) {
                    out.append(',');
                }
                write(out, Array.get(v, i), depth + 1);
            }
            out.append(']');
        } else {
            string(out, v instanceof Enum ? ((Enum<?>) v).name() : text(v));
        }
    }

    /** {@code v.toString()} ("null" for null); the app's own object throwing is a bad argument,
     * as documented. */
    private static String text(Object v) {
        try {
            return v == null ? "null" : String.valueOf(v.toString());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("a value's toString() threw " + e, e);
        }
    }

    private static void string(StringBuilder out, String s) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                case '\n': out.append("\\n"); break;
                case '\r': out.append("\\r"); break;
                case '\t': out.append("\\t"); break;
                default:
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
            }
        }
        out.append('"');
    }
}
