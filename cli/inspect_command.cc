#include "cli/inspect_command.h"

#include <iostream>

#include "common/severity.h"
#include "common/strings.h"
#include "integrity/weight_forensics.h"

namespace gauntlet {
namespace {

constexpr int kExitClean = 0;
constexpr int kExitFindings = 1;
constexpr int kExitError = 2;

int ExitCode(const std::vector<Finding>& findings, Severity fail_on) {
  for (const Finding& finding : findings)
    if (finding.severity >= fail_on) return kExitFindings;
  return kExitClean;
}

}  // namespace

CLI::App* AddInspectCommand(CLI::App& app, InspectRequest& request) {
  CLI::App* inspect = app.add_subcommand("inspect", "Forensics on adapters and weights.");
  inspect->require_subcommand(1);
  struct Kind {
    const char* name;
    const char* description;
    const char* against;
  };
  for (const Kind& kind :
       {Kind{"adapter",
             "A PEFT LoRA adapter: per-module update norms, effective rank, which layers and "
             "projections change, consistency with adapter_config.json.",
             "A reference adapter (where they differ most) or the base checkpoint (shapes, "
             "update relative to each weight)."},
        Kind{"checkpoint",
             "A checkpoint folder (safetensors, sharded or not): NaN/Inf, index consistency, and "
             "against a reference which tensors changed and by how much.",
             "The reference checkpoint folder."}}) {
    CLI::App* command = inspect->add_subcommand(kind.name, kind.description);
    command->add_option("DIR", request.directory, "The folder.")->required();
    command->add_option("--against", request.against, kind.against)->option_text("DIR");
    command->add_option("--format", request.format, "text or json (default: text).")
        ->check(CLI::IsMember({"text", "json"}));
    command
        ->add_option("--fail-on", request.fail_on,
                     "Exit 1 when a finding is at or above SEVERITY (default HIGH).")
        ->option_text("SEVERITY")
        ->check(CLI::IsMember({"INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"}, CLI::ignore_case));
    command->footer(
        "\nExit codes: 0 no finding at or above --fail-on, 1 one is, 2 bad input (the message "
        "says what).");
  }
  return inspect;
}

int RunInspect(const std::string& what, const InspectRequest& request) {
  Severity fail_on = *ParseSeverity(request.fail_on);
  bool json = request.format == "json";
  if (what == "adapter") {
    auto inspection = integrity::InspectAdapter(request.directory, request.against);
    if (!inspection.ok()) {
      std::cerr << "gauntlet inspect adapter: " << inspection.status().message() << "\n";
      return kExitError;
    }
    std::cout << (json ? integrity::AdapterInspectionJson(*inspection)
                       : integrity::AdapterInspectionText(*inspection));
    return ExitCode(inspection->findings, fail_on);
  }
  auto inspection = integrity::InspectCheckpoint(request.directory, request.against);
  if (!inspection.ok()) {
    std::cerr << "gauntlet inspect checkpoint: " << inspection.status().message() << "\n";
    return kExitError;
  }
  std::cout << (json ? integrity::CheckpointInspectionJson(*inspection)
                     : integrity::CheckpointInspectionText(*inspection));
  return ExitCode(inspection->findings, fail_on);
}

}  // namespace gauntlet
