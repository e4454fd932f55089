// The servers' shutdown signals, SIGTERM and SIGINT, as something a thread
// can wait for. A handler writes the signal's number into a pipe (which is
// async-signal-safe), so it works whichever thread the kernel picks: also
// the threads libraries start before main (OpenBLAS's pool in the
// torch-linked eval worker), whose signal masks Gauntlet cannot set; with
// masks and sigwait, SIGTERM killed the eval worker instead of draining it.
// SIGPIPE is ignored: a peer that went away is an error value, not a kill.
#ifndef GAUNTLET_COMMON_SHUTDOWN_SIGNALS_H_
#define GAUNTLET_COMMON_SHUTDOWN_SIGNALS_H_

#include <chrono>

namespace gauntlet {

// Installs the handlers; call once, early in main. Idempotent.
void InstallShutdownSignals();

// Waits for the next shutdown signal and returns its number; with a
// timeout, returns 0 when none came in time.
int WaitForShutdownSignal();
int WaitForShutdownSignal(std::chrono::milliseconds timeout);

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_SHUTDOWN_SIGNALS_H_
