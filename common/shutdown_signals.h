// The servers' shutdown signals. Blocked before any thread starts, so that
// every thread inherits the mask and only the server's own sigwait() sees
// SIGTERM and SIGINT; SIGPIPE is ignored (a peer that went away is an error
// value, not a process kill).
#ifndef GAUNTLET_COMMON_SHUTDOWN_SIGNALS_H_
#define GAUNTLET_COMMON_SHUTDOWN_SIGNALS_H_

#include <signal.h>

namespace gauntlet {

// Blocks SIGTERM and SIGINT in the calling thread, ignores SIGPIPE, and
// returns the blocked set for sigwait().
sigset_t BlockShutdownSignals();

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_SHUTDOWN_SIGNALS_H_
