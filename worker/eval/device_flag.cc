#include "worker/eval/device_flag.h"

#include "common/command_line.h"
#include "common/strings.h"
#include "worker/eval/lab_model.h"

namespace gauntlet::eval {

void AddDeviceFlag(CLI::App& command, torch::Device& device) {
  command
      .add_option_function<std::string>(
          "--device", [&device](const std::string& name) { device = *ResolveDevice(name); },
          "Where models run: auto (the default: CUDA when present), cpu or cuda[:N].")
      ->option_text("DEVICE")
      ->check(Checked([](const std::string& name) {
        auto resolved = ResolveDevice(name);
        if (resolved.ok()) return std::string();
        // The parser names the flag already.
        std::string message(resolved.status().message());
        return StartsWith(message, "--device ") ? message.substr(9) : message;
      }));
}

}  // namespace gauntlet::eval
