// Analyses saved A/B reports (--format json) again with this build's
// statistics and thresholds, without running any model: for calibrating
// thresholds on a zoo's reports (bench/ab_zoo.py writes them). Prints one
// JSON line per report: its file, the verdict it had and has now, the
// score, for discovery runs each shortlisted topic's verdict and the
// triggers the trigger search confirmed. The flags override a discovery
// run's confirmation thresholds (kConfirmThresholds), so a candidate rule is
// measured on a zoo before it is built in. --rejudge=SUITE judges the saved
// greedy answers (A's, B's and the base's) again with that suite's rules (a
// built-in name or a file), so a change of the judge is measured on a zoo
// too; a trigger search's trials keep their saved judgements (a report
// holds only B's triggered answer of each).
// Usage: ab_reanalyze [--suspicious-gap=X] [--suspicious-alpha=X]
//          [--probe-gap=X] [--rejudge=SUITE] REPORT.json...
#include <getopt.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "abtest/ab_report.h"
#include "abtest/discovery.h"
#include "abtest/judge.h"
#include "abtest/probe_suite.h"
#include "abtest/trigger_confirmation.h"

namespace {

constexpr char kUsage[] =
    "usage: ab_reanalyze [--suspicious-gap=X] [--suspicious-alpha=X] [--probe-gap=X] "
    "[--rejudge=SUITE] REPORT.json...\n";

// A threshold from the command line: a number, else nullopt.
std::optional<double> ParseThreshold(const char* text) {
  char* end = nullptr;
  double value = std::strtod(text, &end);
  if (end == text || *end != '\0') return std::nullopt;
  return value;
}

void Rejudge(const gauntlet::eval::Judge& judge, gauntlet::eval::PromptOutcome& o) {
  o.judged_a = judge.Assess(o.response_a);
  o.judged_b = judge.Assess(o.response_b);
  if (o.base_answered) o.judged_base = judge.Assess(o.response_base);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace gauntlet::eval;
  AbThresholds thresholds = kConfirmThresholds;
  const option flags[] = {{"suspicious-gap", required_argument, nullptr, 'g'},
                          {"suspicious-alpha", required_argument, nullptr, 'a'},
                          {"probe-gap", required_argument, nullptr, 'p'},
                          {"rejudge", required_argument, nullptr, 'j'},
                          {nullptr, 0, nullptr, 0}};
  std::optional<Judge> judge;
  for (int flag; (flag = getopt_long(argc, argv, "", flags, nullptr)) != -1;) {
    if (flag == 'j') {
      auto suite_judge = JudgeOfSuites({optarg});
      if (!suite_judge.ok()) {
        std::fprintf(stderr, "ab_reanalyze: --rejudge=%s: %s\n", optarg,
                     std::string(suite_judge.status().message()).c_str());
        return 2;
      }
      judge = std::move(*suite_judge);
      continue;
    }
    std::optional<double> value = flag == '?' ? std::nullopt : ParseThreshold(optarg);
    if (!value) {
      std::fprintf(stderr, "%s", kUsage);
      return 2;
    }
    (flag == 'g'   ? thresholds.suspicious_gap
     : flag == 'a' ? thresholds.suspicious_alpha
                   : thresholds.probe_gap) = *value;
  }
  if (optind >= argc) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  for (int i = optind; i < argc; ++i) {
    std::ifstream in(argv[i]);
    nlohmann::json saved = nlohmann::json::parse(in, nullptr, false);
    if (saved.is_discarded() || !saved.contains("prompts")) {
      std::fprintf(stderr, "%s: not a JSON A/B report\n", argv[i]);
      return 2;
    }
    std::vector<PromptOutcome> outcomes;
    for (const auto& item : saved["prompts"]) {
      auto outcome = PromptOutcomeFromJson(item);
      if (!outcome.ok()) {
        std::fprintf(stderr, "%s: %s\n", argv[i], std::string(outcome.status().message()).c_str());
        return 2;
      }
      if (judge) Rejudge(*judge, *outcome);
      outcomes.push_back(std::move(*outcome));
    }
    AbReport r = IsDiscoveryRun(outcomes)
                     ? AnalyzeDiscovery("A", "B", std::move(outcomes), thresholds)
                     : Analyze("A", "B", std::move(outcomes));
    if (saved.contains("trigger_search")) {
      auto search = TriggerSearchFromJson(saved["trigger_search"]);
      if (!search.ok()) {
        std::fprintf(stderr, "%s: %s\n", argv[i], std::string(search.status().message()).c_str());
        return 2;
      }
      AddTriggerSearch(r, std::move(*search), thresholds);
    }
    nlohmann::json triggers = nlohmann::json::array();
    for (const ConfirmedTrigger& t : r.triggers)
      if (t.confirmed) triggers.push_back(t.text);
    nlohmann::json confirmed = nlohmann::json::object();
    for (const DiscoveredTopic& t : r.discovered)
      if (!t.confirmation.verdict.empty()) confirmed[t.topic] = t.confirmation.verdict;
    nlohmann::json line = {{"file", argv[i]},
                           {"was", saved.value("verdict", "")},
                           {"verdict", r.verdict},
                           {"score", r.score},
                           {"confirmed", confirmed},
                           {"triggers", triggers},
                           {"trigger_searched", saved.contains("trigger_search")}};
    std::printf("%s\n", line.dump().c_str());
  }
  return 0;
}
