// Crashes a process in the ways an iOS app dies, with the agent's signal handlers installed
// (bindings-ios/swift/Sources/RumCrashSignals). Usage: crash MODE MARKER [MARKER2]
//   segv-chained: an app handler installed before ours must still run (exit 42)
//   overflow:     unbounded recursion on the main thread (needs the alternate stack)
//   abort:        abort()
//   twice:        installed twice (a second setup), then SIGSEGV: written to MARKER2 only
//   disarmed:     the marker unset (the agent shut down), then SIGSEGV: nothing written
#include "rum_crash_signals.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void app_handler(int sig) {
    (void)sig;
    static const char said[] = "app handler ran\n";
    ssize_t written = write(1, said, sizeof said - 1);
    (void)written;
    _exit(42);
}

static int deeper(int depth) {
    volatile char pad[4096];
    pad[0] = (char)depth;
    return deeper(depth + 1) + pad[0];
}

static int open_marker(const char *path) {
    return open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        return 2;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "segv-chained") == 0) {
        signal(SIGSEGV, app_handler);
    }
    if (rum_install_signal_handlers(open_marker(argv[2])) != 0) {
        return 3;
    }
    if (strcmp(mode, "twice") == 0) {
        if (argc < 4 || rum_install_signal_handlers(open_marker(argv[3])) != 0) {
            return 3;
        }
    }
    if (strcmp(mode, "disarmed") == 0) {
        rum_set_signal_marker(-1);
    }
    if (strcmp(mode, "overflow") == 0) {
        return deeper(0);
    }
    if (strcmp(mode, "abort") == 0) {
        abort();
    }
    *(volatile int *)0 = 1;
    return 0;
}
