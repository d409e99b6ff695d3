package dev.rollout.rum;

import java.util.ArrayList;
import java.util.List;

/** A tiny test runner (no JUnit needed): named checks, one PASS/FAIL line each, then "N passed, N failed". */
final class TestRunner {
    /** A test body that may throw anything. */
    interface Body {
        void run() throws Throwable;
    }

    /** A test body expected to throw. */
    interface Thrower {
        void run() throws Throwable;
    }

    private int passed;
    private int failed;
    private final List<String> failures = new ArrayList<>();

    void test(String name, Body body) {
        try {
            body.run();
            passed++;
            System.out.println("PASS " + name);
        } catch (Throwable t) {
            failed++;
            failures.add(name);
            System.out.println("FAIL " + name + ": " + t);
            t.printStackTrace(System.out);
        }
    }

    static void check(boolean condition, String message) {
        if (!condition) {
            throw new AssertionError(message);
        }
    }

    /** Asserts {@code body} throws {@code type}; answers the exception. */
    static <T extends Throwable> T expectThrows(Class<T> type, Thrower body) {
        try {
            body.run();
        } catch (Throwable t) {
            if (type.isInstance(t)) {
                return type.cast(t);
            }
            throw new AssertionError("expected " + type.getName() + ", got " + t, t);
        }
        throw new AssertionError("expected " + type.getName() + ", nothing was thrown");
    }

    /** Prints the summary line CI counts; answers the process exit code. */
    int finish() {
        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        return failed == 0 ? 0 : 1;
    }

    int failed() {
        return failed;
    }
}
