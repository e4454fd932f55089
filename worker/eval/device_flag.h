// The --device flag of the torch-linked binaries (gauntlet-lab's commands
// and gauntlet-eval-worker): auto, cpu, cuda or cuda:N, checked against the
// machine when the command line is read.
#ifndef GAUNTLET_WORKER_EVAL_DEVICE_FLAG_H_
#define GAUNTLET_WORKER_EVAL_DEVICE_FLAG_H_

#include <torch/types.h>

namespace CLI {
class App;
}

namespace gauntlet::eval {

// Declares --device on `command`, resolved into `device`.
void AddDeviceFlag(CLI::App& command, torch::Device& device);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_WORKER_EVAL_DEVICE_FLAG_H_
