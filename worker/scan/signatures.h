// Compiled YARA signature rules for a policy: the built-in set plus the
// user's rule files. Compiled once per process per policy and shared by all
// scanning threads (libyara scans concurrently with one rule set).
#ifndef GAUNTLET_WORKER_SCAN_SIGNATURES_H_
#define GAUNTLET_WORKER_SCAN_SIGNATURES_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/policy.h"
#include "common/severity.h"

namespace gauntlet::scan {

struct SignatureMatch {
  std::string rule;
  std::string description;
  Severity severity = Severity::kHigh;
};

class SignatureSet {
 public:
  // The compiled rules for `policy`, cached. InvalidArgument names the rule
  // file and line of a compile error; NotFound a missing rule file.
  static absl::StatusOr<std::shared_ptr<const SignatureSet>> ForPolicy(
      const SignaturePolicy& policy);

  std::vector<SignatureMatch> Match(std::string_view data) const;
  ~SignatureSet();

 private:
  struct Compiled;
  explicit SignatureSet(std::unique_ptr<Compiled> compiled);
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_SIGNATURES_H_
