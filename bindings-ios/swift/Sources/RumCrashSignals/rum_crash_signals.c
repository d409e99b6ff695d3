// See rum_crash_signals.h. Compiled on macOS by the Swift package, and on Linux by
// bindings-ios/tests/signals.rs, which crashes processes with it (the same POSIX calls).
#include "rum_crash_signals.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const int rum_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGABRT};
#define RUM_SIGNAL_COUNT (sizeof(rum_signals) / sizeof(rum_signals[0]))

static struct sigaction rum_previous[RUM_SIGNAL_COUNT];
static volatile sig_atomic_t rum_marker_fd = -1;
static int rum_installed = 0;

static void rum_on_signal(int sig, siginfo_t *info, void *context) {
    (void)context;
    // Async-signal-safe only: write(2), sigaction(2), raise(3).
    int fd = rum_marker_fd;
    if (fd >= 0) {
        rum_marker_fd = -1; // one marker per crash, even if the signal comes back to us
        int number = sig;
        ssize_t written = write(fd, &number, sizeof number);
        (void)written;
    }
    for (size_t i = 0; i < RUM_SIGNAL_COUNT; i++) {
        if (rum_signals[i] == sig) {
            sigaction(sig, &rum_previous[i], NULL);
            break;
        }
    }
    // A fault (bad access, trap instruction) happens again when this returns, and goes to the
    // handler that was there before ours or to the default action: the OS crash report then
    // shows the real faulting address. A signal sent by kill, raise or abort would not come
    // again: send it again (it is blocked until this returns).
    if (sig == SIGABRT || info == NULL || info->si_code == SI_USER
#ifdef SI_TKILL
        || info->si_code == SI_TKILL
#endif
    ) {
        raise(sig);
    }
}

void rum_set_signal_marker(int marker_fd) {
    rum_marker_fd = marker_fd;
}

int rum_install_signal_handlers(int marker_fd) {
    if (rum_installed) {
        rum_marker_fd = marker_fd;
        return 0;
    }
    // A stack overflow leaves no stack to run a handler on: give this thread (the main thread,
    // at setup) an alternate one, unless something installed one before us.
    stack_t current;
    if (sigaltstack(NULL, &current) == 0 && (current.ss_flags & SS_DISABLE)) {
        size_t size = SIGSTKSZ > 65536 ? (size_t)SIGSTKSZ : 65536;
        stack_t stack;
        memset(&stack, 0, sizeof stack);
        stack.ss_sp = malloc(size);
        if (stack.ss_sp != NULL) {
            stack.ss_size = size;
            sigaltstack(&stack, NULL);
        }
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = rum_on_signal;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < RUM_SIGNAL_COUNT; i++) {
        if (sigaction(rum_signals[i], &action, &rum_previous[i]) != 0) {
            // All or none: put back the ones already replaced.
            while (i-- > 0) {
                sigaction(rum_signals[i], &rum_previous[i], NULL);
            }
            return -1;
        }
    }
    rum_marker_fd = marker_fd;
    rum_installed = 1;
    return 0;
}
