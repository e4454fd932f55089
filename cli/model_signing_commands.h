// `gauntlet sign`, `gauntlet verify` and `gauntlet scan --verify-signature`:
// tamper evidence for model folders (integrity/model_signature.h) on the
// command line and in the scan report.
#ifndef GAUNTLET_CLI_MODEL_SIGNING_COMMANDS_H_
#define GAUNTLET_CLI_MODEL_SIGNING_COMMANDS_H_

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/report.h"

namespace gauntlet {

struct SignRequest {
  std::string key, folder;
};
struct VerifyRequest {
  std::string key, folder, format = "text";
};

CLI::App* AddSignCommand(CLI::App& app, SignRequest& request);
CLI::App* AddVerifyCommand(CLI::App& app, VerifyRequest& request);

// Exit codes: 0 signed; 2 for a bad key or folder.
int RunSign(const SignRequest& request);
// Exit codes: 0 every file matches the signature; 1 the signature does not
// verify with the key or a file was changed, added or removed (each named);
// 2 no model.sig, a malformed one, or a bad key or folder.
int RunVerify(const VerifyRequest& request);

// For `scan --verify-signature KEY`: checks every folder among `paths`
// against its model.sig and adds a finding to that folder's model in
// `report` (adding the model when the scan made none) for a missing,
// malformed or invalid signature and for every changed, added or removed
// file. INVALID_ARGUMENT for an unreadable or unsupported key.
absl::Status AddSignatureFindings(const std::string& public_key_path,
                                  const std::vector<std::string>& paths, ScanReport& report);

}  // namespace gauntlet

#endif  // GAUNTLET_CLI_MODEL_SIGNING_COMMANDS_H_
