// Fatal-signal capture for the iOS agent, in C: a signal handler may only do async-signal-safe
// work, which Swift cannot promise (its globals and accessors may call into the runtime).
#ifndef RUM_CRASH_SIGNALS_H
#define RUM_CRASH_SIGNALS_H

#ifdef __cplusplus
extern "C" {
#endif

/// Installs the handlers of SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP and SIGABRT (once per
/// process; a later call only changes the file descriptor), with an alternate signal stack for
/// the calling thread. On a fatal signal the handler writes the signal number (a native-endian
/// int) to `marker_fd`, restores the handler that was there before ours, and lets the signal go
/// on to it (or to the default action: the process dies as it would have). Returns 0, or -1
/// when a handler could not be installed.
int rum_install_signal_handlers(int marker_fd);

/// Points the installed handlers at another marker; -1: write none (the agent was shut down).
void rum_set_signal_marker(int marker_fd);

#ifdef __cplusplus
}
#endif

#endif
