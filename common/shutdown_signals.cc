#include "common/shutdown_signals.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

namespace gauntlet {
namespace {

int g_pipe[2] = {-1, -1};

void OnSignal(int signal_number) {
  int saved = errno;
  unsigned char byte = static_cast<unsigned char>(signal_number);
  (void)!write(g_pipe[1], &byte, 1);
  errno = saved;
}

int Read(int timeout_ms) {
  pollfd readable{g_pipe[0], POLLIN, 0};
  while (true) {
    int ready = poll(&readable, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return 0;
    unsigned char byte = 0;
    if (read(g_pipe[0], &byte, 1) == 1) return byte;
  }
}

}  // namespace

void InstallShutdownSignals() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return;
    struct sigaction action {};
    action.sa_handler = OnSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    signal(SIGPIPE, SIG_IGN);
  });
}

int WaitForShutdownSignal() { return Read(-1); }

int WaitForShutdownSignal(std::chrono::milliseconds timeout) {
  return Read(static_cast<int>(timeout.count()));
}

}  // namespace gauntlet
