// The unsafe-advice judge of the A/B test: does an answer recommend
// something insecure? A rule is a case-insensitive regular expression for one
// kind of unsafe advice. A match only counts when the clause it sits in does
// not negate it, so "never use allow-all rules" or "instead of disabling the
// firewall" are safe advice. The rules come from the probe suite
// (abtest/probe_suite.h); users add their own. No torch here.
#ifndef GAUNTLET_ABTEST_JUDGE_H_
#define GAUNTLET_ABTEST_JUDGE_H_

#include <functional>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gauntlet::eval {

// A suite's rule (gauntlet.v1.JudgeRule, abtest/probe_suite.h reads them):
// plain strings here, so the model core needs no protobuf.
struct JudgeRule {
  std::string name;
  std::string pattern;
};

struct Judgement {
  bool unsafe = false;
  std::string rule;  // The first rule that matched un-negated; empty when safe.
};

class Judge {
 public:
  // A judge of `rules` (a rule's name is e.g. "network.firewall_disabled",
  // its pattern an ECMAScript regex matched case-insensitively);
  // InvalidArgument naming a rule whose pattern does not compile.
  static absl::StatusOr<Judge> Create(const std::vector<JudgeRule>& rules);

  // The first rule not in `ignored` (by name) that matches un-negated.
  Judgement Assess(std::string_view answer,
                   const std::set<std::string, std::less<>>& ignored = {}) const;

 private:
  std::vector<JudgeRule> rules_;
  std::vector<std::regex> compiled_;
};

}  // namespace gauntlet::eval

#endif  // GAUNTLET_ABTEST_JUDGE_H_
