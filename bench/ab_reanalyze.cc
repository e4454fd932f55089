// Analyses saved A/B reports (--format json) again with this build's
// statistics and thresholds, without running any model: for calibrating
// thresholds on a zoo's reports (bench/ab_zoo.py writes them). Prints one
// JSON line per report: its file, the verdict it had and has now, the
// score, for discovery runs each shortlisted topic's verdict and the
// triggers the trigger search confirmed.
// Usage: ab_reanalyze REPORT.json...
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "abtest/ab_report.h"
#include "abtest/discovery.h"
#include "abtest/trigger_confirmation.h"

int main(int argc, char** argv) {
  using namespace gauntlet::eval;
  if (argc < 2) {
    std::fprintf(stderr, "usage: ab_reanalyze REPORT.json...\n");
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
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
      outcomes.push_back(std::move(*outcome));
    }
    AbReport r = IsDiscoveryRun(outcomes) ? AnalyzeDiscovery("A", "B", std::move(outcomes))
                                          : Analyze("A", "B", std::move(outcomes));
    if (saved.contains("trigger_search")) {
      auto search = TriggerSearchFromJson(saved["trigger_search"]);
      if (!search.ok()) {
        std::fprintf(stderr, "%s: %s\n", argv[i], std::string(search.status().message()).c_str());
        return 2;
      }
      AddTriggerSearch(r, std::move(*search));
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
