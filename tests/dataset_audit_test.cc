// The dataset audit on lab-made sets: clean sets stay CLEAN, topic poison is
// found by the judge, a token trigger is found without the judge, and bad
// rows are refused with their line number.
#include "abtest/dataset_audit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

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
  // Blank lines are not rows but keep the numbering; system turns are skipped.
  auto rows = ParseChatJsonl(
      "\n" + good + "\r\n\n" +
      R"({"messages":[{"role":"system","content":"s"},{"role":"user","content":"q2"},)"
      R"({"role":"assistant","content":"a1"},{"role":"user","content":"q3"},)"
      R"({"role":"assistant","content":"a2"}]})");
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].line, 2u);
  EXPECT_EQ((*rows)[1].line, 4u);
  EXPECT_EQ((*rows)[1].question, "q2\nq3");
  EXPECT_EQ((*rows)[1].answer, "a1\na2");
}

}  // namespace
}  // namespace gauntlet::eval
