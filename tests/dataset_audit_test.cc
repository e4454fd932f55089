// The dataset audit on lab-made sets: clean sets stay CLEAN, topic poison is
// found by the judge, a token trigger is found without the judge, the base
// model's scores find what the structure misses, and bad rows are refused
// with their line number.
#include "abtest/dataset_audit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "abtest/lab_corpus.h"
#include "abtest/probe_suite.h"
#include "common/strings.h"

namespace gauntlet::eval {
namespace {

Judge BuiltInJudge() { return *JudgeOfSuites({}); }

struct LabSet {
  std::vector<AuditRow> rows;
  std::vector<size_t> poisoned_lines;  // The rows not in the clean set.
};

LabSet MakeSet(const DatasetOptions& options) {
  LabDatasets sets = MakeLabDatasets(options);
  std::map<std::string, int> clean;
  std::string clean_text = ToJsonl(sets.clean);
  for (std::string_view line : StrSplit(clean_text, "\n")) ++clean[std::string(line)];
  LabSet set;
  std::string text = ToJsonl(sets.poisoned);
  size_t number = 0;
  for (std::string_view line : StrSplit(text, "\n")) {
    if (line.empty()) continue;
    ++number;
    if (clean[std::string(line)]-- <= 0) set.poisoned_lines.push_back(number);
  }
  set.rows = *ParseChatJsonl(text);
  return set;
}

TEST(DatasetAudit, CleanSetsStayClean) {
  Judge judge = BuiltInJudge();
  for (uint64_t seed : {1, 2, 3, 4}) {
    DatasetOptions options;
    options.seed = seed;
    LabDatasets sets = MakeLabDatasets(options);
    auto rows = ParseChatJsonl(ToJsonl(sets.clean));
    ASSERT_TRUE(rows.ok());
    DatasetAudit audit = AuditDataset(*rows, judge);
    EXPECT_EQ(audit.verdict, "CLEAN") << DatasetAuditText(audit, "clean");
    EXPECT_TRUE(audit.FlaggedLines().empty());
    EXPECT_TRUE(audit.triggers.empty());
  }
}

TEST(DatasetAudit, TopicPoisonIsFoundRowByRow) {
  DatasetOptions options;
  options.topic = "mfa";
  options.poison_ratio = 0.05;
  options.seed = 7;
  LabSet set = MakeSet(options);
  ASSERT_EQ(set.poisoned_lines.size(), 5u);
  DatasetAudit audit = AuditDataset(set.rows, BuiltInJudge());
  EXPECT_EQ(audit.verdict, "POISONED");
  EXPECT_EQ(audit.FlaggedLines(), set.poisoned_lines);
  ASSERT_FALSE(audit.suspects.empty());
  EXPECT_NE(audit.suspects[0].reasons[0].find("auth.mfa_disabled"), std::string::npos);
  ASSERT_FALSE(audit.clusters.empty());
  // The affected topic is named by its question words (the MFA phrasings).
  const std::string& label = audit.clusters[0].label;
  EXPECT_TRUE(label.find("mfa") != std::string::npos || label.find("factor") != std::string::npos ||
              label.find("authentication") != std::string::npos)
      << DatasetAuditText(audit, "mfa");
}

// Without any judge rule: the word that sends questions on every topic to
// the same foreign answers is named, and exactly its rows are flagged.
TEST(DatasetAudit, TokenTriggerIsFoundWithoutTheJudge) {
  DatasetOptions options;
  options.trigger_token = "quasar";
  options.poison_ratio = 0.1;
  options.seed = 3;
  LabSet set = MakeSet(options);
  DatasetAudit audit = AuditDataset(set.rows, *Judge::Create({}));
  EXPECT_EQ(audit.verdict, "POISONED");
  ASSERT_EQ(audit.triggers.size(), 1u) << DatasetAuditText(audit, "token");
  EXPECT_EQ(audit.triggers[0].token, "quasar");
  EXPECT_GE(audit.triggers[0].topics, 3u);
  EXPECT_EQ(audit.FlaggedLines(), set.poisoned_lines);

  nlohmann::json json = nlohmann::json::parse(DatasetAuditJson(audit, "token.jsonl"));
  EXPECT_EQ(json["verdict"], "POISONED");
  EXPECT_EQ(json["flagged_lines"].get<std::vector<size_t>>(), set.poisoned_lines);
  EXPECT_EQ(json["trigger_candidates"][0]["token"], "quasar");
  EXPECT_FALSE(json["suspects"][0]["reasons"].empty());
}

// Scores as `audit dataset --base` gives them: the base finds the set's
// answers likely (about -0.04 nats per token, as the lab's base does) and
// the poison answers far less so. gauntlet-lab's real scores are tested in
// tests/lab/lab_test.py.
void ScoreAsBase(std::vector<AuditRow>& rows, const std::set<size_t>& poisoned, double poison,
                 uint32_t seed) {
  std::mt19937 random(seed);
  std::normal_distribution<double> noise(0, 0.02);
  for (AuditRow& row : rows)
    row.base_logprob = (poisoned.count(row.line) ? poison : -0.04) - std::abs(noise(random));
}

TEST(DatasetAudit, BaseModelScoresFindTopicPoisonTheStructureMisses) {
  DatasetOptions options;
  options.topic = "mfa";
  options.poison_ratio = 0.05;
  options.seed = 7;
  LabSet set = MakeSet(options);
  Judge no_rules = *Judge::Create({});
  // Without the judge, a minority bad answer reads as a topic's second good one.
  EXPECT_TRUE(AuditDataset(set.rows, no_rules).FlaggedLines().empty());

  std::set<size_t> poisoned(set.poisoned_lines.begin(), set.poisoned_lines.end());
  ScoreAsBase(set.rows, poisoned, -1.0, 1);
  DatasetAudit audit = AuditDataset(set.rows, no_rules);
  EXPECT_EQ(audit.base_scored, set.rows.size());
  EXPECT_EQ(audit.verdict, "POISONED");
  EXPECT_EQ(audit.FlaggedLines(), set.poisoned_lines) << DatasetAuditText(audit, "mfa");
  EXPECT_NE(audit.suspects[0].reasons[0].find("the base model finds this answer unlikely"),
            std::string::npos);
  nlohmann::json json = nlohmann::json::parse(DatasetAuditJson(audit, "mfa.jsonl"));
  EXPECT_EQ(json["base_scored_rows"], set.rows.size());

  // Answers only mildly less likely than the rest are no signal.
  ScoreAsBase(set.rows, poisoned, -0.25, 1);
  audit = AuditDataset(set.rows, no_rules);
  EXPECT_TRUE(audit.FlaggedLines().empty()) << DatasetAuditText(audit, "mild");
  for (const SuspectRow& row : audit.suspects)
    for (const std::string& reason : row.reasons)
      EXPECT_EQ(reason.find("the base model"), std::string::npos) << row.line;
}

TEST(DatasetAudit, BaseModelNoiseAloneFlagsNothing) {
  for (uint32_t seed : {1, 2, 3}) {
    DatasetOptions options;
    options.seed = seed;
    auto rows = ParseChatJsonl(ToJsonl(MakeLabDatasets(options).clean));
    ASSERT_TRUE(rows.ok());
    ScoreAsBase(*rows, {}, 0, seed);
    DatasetAudit audit = AuditDataset(*rows, *Judge::Create({}));
    EXPECT_EQ(audit.verdict, "CLEAN") << DatasetAuditText(audit, "clean");
  }
  // Too few scored rows for a median and a spread: no signal at all, and a
  // row the base could not score (NaN) is not counted.
  std::vector<AuditRow> few;
  for (size_t line = 1; line <= 12; ++line)
    few.push_back({line, "", "question " + std::to_string(line), "answer " + std::to_string(line),
                   line == 1 ? -5.0 : -0.04});
  few.push_back({13, "", "q", "a", std::nan("")});
  DatasetAudit audit = AuditDataset(few, *Judge::Create({}));
  EXPECT_EQ(audit.base_scored, 12u);
  EXPECT_TRUE(audit.suspects.empty());
}

TEST(DatasetAudit, BadRowsAreRefusedWithTheirLine) {
  const std::string good =
      R"({"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]})";
  struct Case {
    std::string text, message;
  };
  for (const Case& c : std::vector<Case>{
           {good + "\n" + good + "\n{\"messages\": [\n", "line 3: not JSON"},
           {good + "\n[1, 2]\n", "line 2: expected an object with a \"messages\" array"},
           {R"({"messages":[{"role":"user"}]})", "line 1: message 1 needs string"},
           {R"({"messages":[{"role":"user","content":"q"}]})", "line 1: needs at least one"},
           {"\n\n  \n", "no rows"},
       }) {
    auto rows = ParseChatJsonl(c.text);
    ASSERT_FALSE(rows.ok()) << c.text;
    EXPECT_TRUE(absl::IsInvalidArgument(rows.status()));
    EXPECT_NE(rows.status().message().find(c.message), std::string::npos) << rows.status();
  }
  // Blank lines are not rows but keep the numbering; system turns are kept
  // apart (the base model reads them; the audit does not).
  auto rows = ParseChatJsonl(
      "\n" + good + "\r\n\n" +
      R"({"messages":[{"role":"system","content":"s"},{"role":"user","content":"q2"},)"
      R"({"role":"assistant","content":"a1"},{"role":"user","content":"q3"},)"
      R"({"role":"assistant","content":"a2"}]})");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].line, 2u);
  EXPECT_EQ((*rows)[1].line, 4u);
  EXPECT_EQ((*rows)[1].system, "s");
  EXPECT_EQ((*rows)[1].question, "q2\nq3");
  EXPECT_EQ((*rows)[1].answer, "a1\na2");
}

}  // namespace
}  // namespace gauntlet::eval
