// `gauntlet inspect adapter|checkpoint DIR [--against DIR]`: adapter and
// weight forensics (integrity/weight_forensics.h) on the command line.
// Torch-free.
#ifndef GAUNTLET_CLI_INSPECT_COMMAND_H_
#define GAUNTLET_CLI_INSPECT_COMMAND_H_

#include <CLI/CLI.hpp>
#include <string>

namespace gauntlet {

struct InspectRequest {
  std::string directory, against, format = "text", fail_on = "HIGH";
};

// Declares `inspect adapter` and `inspect checkpoint`; returns `inspect`.
CLI::App* AddInspectCommand(CLI::App& app, InspectRequest& request);

// `what` is "adapter" or "checkpoint". Exit codes as `scan`'s: 0 no finding
// at or above --fail-on, 1 one is, 2 bad input (not an adapter or
// checkpoint, unreadable files; the message says which).
int RunInspect(const std::string& what, const InspectRequest& request);

}  // namespace gauntlet

#endif  // GAUNTLET_CLI_INSPECT_COMMAND_H_
