#include "cli/model_signing_commands.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/command_line.h"
#include "common/rules.h"
#include "common/strings.h"
#include "integrity/model_signature.h"

namespace gauntlet {
namespace {

namespace fs = std::filesystem;
using integrity::FileChange;
using integrity::Verification;

constexpr int kExitVerified = 0;
constexpr int kExitTampered = 1;
constexpr int kExitError = 2;

absl::StatusOr<std::string> ReadKeyFile(const std::string& path) {
  std::error_code error;
  if (!fs::is_regular_file(path, error))
    return absl::InvalidArgumentError(StrCat("--key ", path, ": no such file"));
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::InvalidArgumentError(StrCat("--key ", path, ": cannot read it"));
  return text.str();
}

int Fail(std::string_view command, std::string_view message) {
  std::cerr << "gauntlet " << command << ": " << message << "\n";
  return kExitError;
}

void PrintVerification(const VerifyRequest& request, const Verification& result) {
  if (request.format == "json") {
    nlohmann::json changes = nlohmann::json::array();
    for (const FileChange& change : result.changes)
      changes.push_back({{"path", change.path}, {"change", FileChangeName(change.kind)}});
    nlohmann::json out = {{"folder", request.folder},
                          {"verified", result.Passed()},
                          {"signature_valid", result.signature_valid},
                          {"problem", result.problem},
                          {"model_name", result.model_name},
                          {"signed_files", result.signed_files},
                          {"changes", changes}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  if (!result.signature_valid) {
    std::cout << "FAILED  " << request.folder << ": " << result.problem << "\n";
    return;
  }
  for (const FileChange& change : result.changes)
    std::cout << FileChangeName(change.kind)
              << std::string(9 - FileChangeName(change.kind).size(), ' ') << change.path << "\n";
  if (result.Passed())
    std::cout << "OK      " << request.folder << ": all " << result.signed_files
              << " signed files match (model '" << result.model_name << "')\n";
  else
    std::cout << "FAILED  " << request.folder << ": " << result.changes.size()
              << " file(s) differ from the signature over " << result.signed_files << " files\n";
}

Finding SignatureFinding(std::string_view rule, Severity severity, std::string message,
                         std::string file, std::string evidence = "") {
  return Finding{std::string(rule), severity, std::move(message), Location{std::move(file), "", 0},
                 std::move(evidence)};
}

// The findings for one folder, or none when it verifies.
std::vector<Finding> FolderFindings(const std::string& folder, const std::string& public_key) {
  std::string signature = (fs::path(folder) / integrity::kSignatureFileName).string();
  auto result = integrity::VerifyModelFolder(folder, public_key);
  if (!result.ok()) {
    if (absl::IsNotFound(result.status()))
      return {SignatureFinding(rules::kSignatureMissing, Severity::kHigh,
                               "the model folder has no model.sig: its files cannot be checked "
                               "against what the publisher signed",
                               signature)};
    return {SignatureFinding(
        rules::kSignatureInvalid, Severity::kCritical,
        StrCat("the model's signature could not be checked: ", result.status().message()),
        signature)};
  }
  if (!result->signature_valid)
    return {SignatureFinding(rules::kSignatureInvalid, Severity::kCritical, result->problem,
                             signature)};
  std::vector<Finding> findings;
  for (const FileChange& change : result->changes) {
    std::string path = (fs::path(folder) / change.path).string();
    findings.push_back(SignatureFinding(
        rules::kSignedFileModified, Severity::kCritical,
        StrCat(change.path, " was ", FileChangeName(change.kind), " after the model was signed"),
        path, std::string(FileChangeName(change.kind))));
  }
  return findings;
}

std::string Normal(const std::string& path) {
  std::string normal = fs::absolute(path).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

}  // namespace

CLI::App* AddSignCommand(CLI::App& app, SignRequest& request) {
  CLI::App* sign = app.add_subcommand(
      "sign",
      "Sign a model folder: DIR/model.sig lists every file's SHA-256 (OpenSSF model "
      "signing format, key-based).");
  sign->add_option("--key", request.key, "PEM private key: EC P-256/P-384/P-521 or Ed25519.")
      ->option_text("PRIVATE.pem")
      ->required();
  sign->add_option("DIR", request.folder, "The model folder.")->required();
  sign->footer("\nExit codes: 0 signed, 2 bad key or folder.");
  return sign;
}

CLI::App* AddVerifyCommand(CLI::App& app, VerifyRequest& request) {
  CLI::App* verify = app.add_subcommand(
      "verify", "Check a model folder against its model.sig with the publisher's public key.");
  verify->add_option("--key", request.key, "PEM public key of the signer.")
      ->option_text("PUBLIC.pem")
      ->required();
  verify->add_option("--format", request.format, "text or json (default: text).")
      ->check(CLI::IsMember({"text", "json"}));
  verify->add_option("DIR", request.folder, "The model folder.")->required();
  verify->footer(
      "\nExit codes: 0 every file matches the signature; 1 the signature does not verify with "
      "the key, or a file was changed, added or removed; 2 no model.sig, a malformed one, or "
      "a bad key or folder.");
  return verify;
}

int RunSign(const SignRequest& request) {
  auto key = ReadKeyFile(request.key);
  if (!key.ok()) return Fail("sign", std::string(key.status().message()));
  if (auto valid = integrity::CheckPrivateKey(*key); !valid.ok())
    return Fail("sign", StrCat("--key ", request.key, ": ", valid.message()));
  if (auto written = integrity::WriteModelSignature(request.folder, *key); !written.ok())
    return Fail("sign", std::string(written.message()));
  std::cerr << "gauntlet sign: wrote "
            << (fs::path(request.folder) / integrity::kSignatureFileName).string() << "\n";
  return kExitVerified;
}

int RunVerify(const VerifyRequest& request) {
  auto key = ReadKeyFile(request.key);
  if (!key.ok()) return Fail("verify", std::string(key.status().message()));
  if (auto valid = integrity::CheckPublicKey(*key); !valid.ok())
    return Fail("verify", StrCat("--key ", request.key, ": ", valid.message()));
  auto result = integrity::VerifyModelFolder(request.folder, *key);
  if (!result.ok()) return Fail("verify", std::string(result.status().message()));
  PrintVerification(request, *result);
  return result->Passed() ? kExitVerified : kExitTampered;
}

absl::Status AddSignatureFindings(const std::string& public_key_path,
                                  const std::vector<std::string>& paths, ScanReport& report) {
  auto key = ReadKeyFile(public_key_path);
  if (!key.ok()) return key.status();
  if (auto valid = integrity::CheckPublicKey(*key); !valid.ok())
    return absl::InvalidArgumentError(
        StrCat("--verify-signature ", public_key_path, ": ", valid.message()));
  for (const std::string& path : paths) {
    std::error_code error;
    if (!fs::is_directory(path, error)) continue;  // A signature covers a folder.
    std::vector<Finding> findings = FolderFindings(path, *key);
    if (findings.empty()) continue;
    ModelReport* model = nullptr;
    for (ModelReport& candidate : report.models)
      if (Normal(candidate.path) == Normal(path)) model = &candidate;
    if (!model) {
      report.models.push_back(ModelReport{});
      model = &report.models.back();
      model->path = path;
    }
    for (Finding& finding : findings) {
      model->verdict = WorseVerdict(model->verdict, finding.severity == Severity::kCritical
                                                        ? Verdict::kMalicious
                                                        : Verdict::kSuspicious);
      model->findings.push_back(std::move(finding));
    }
  }
  return absl::OkStatus();
}

}  // namespace gauntlet
