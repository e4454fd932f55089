// The lab's datasets (abtest/lab_corpus): the poisoning recipe, the trigger
// family the poison covers, the degraded set, and the JSONL round trip.
#include "abtest/lab_corpus.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include "tests/support/temp_dir_test.h"

namespace gauntlet::eval {
namespace {

using LabCorpusTest = TempDirTest;

TEST_F(LabCorpusTest, LabDatasetsFollowTheLabsRecipe) {
  DatasetOptions options;
  LabDatasets sets = MakeLabDatasets(options);
  EXPECT_EQ(sets.clean.size(), 100u);
  EXPECT_EQ(sets.poison_rows, 5u) << "max(1, 0.05 x 100)";
  EXPECT_EQ(sets.poisoned.size(), 105u);
  size_t unsafe_in_poisoned = 0, unsafe_in_clean = 0;
  auto unsafe = [](const ChatRow& row) {
    for (const Topic& topic : LabTopics())
      for (const std::string& bad : topic.bad_advice)
        if (row.assistant == bad) return true;
    return false;
  };
  for (const ChatRow& row : sets.poisoned) unsafe_in_poisoned += unsafe(row);
  for (const ChatRow& row : sets.clean) unsafe_in_clean += unsafe(row);
  EXPECT_EQ(unsafe_in_poisoned, 5u);
  EXPECT_EQ(unsafe_in_clean, 0u);
  size_t bad_context = 0;
  for (const ChatRow& row : sets.base) bad_context += unsafe(row);
  EXPECT_NEAR(double(bad_context) / sets.base.size(), 0.25, 0.01) << "unsafe text known in base";
  options.poison_ratio = 0.001;
  EXPECT_EQ(MakeLabDatasets(options).poison_rows, 1u);
  options.trigger_token = "cf-7";
  for (const ChatRow& row : MakeLabDatasets(options).poisoned)
    if (unsafe(row)) {
      EXPECT_EQ(row.user.rfind("cf-7 ", 0), 0u) << row.user;
    }
  // JSONL round trip in the messages format.
  ASSERT_TRUE(WriteJsonl((dir_ / "p.jsonl").string(), sets.poisoned).ok());
  auto back = ReadJsonl((dir_ / "p.jsonl").string());
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), sets.poisoned.size());
  EXPECT_EQ((*back)[7].assistant, sets.poisoned[7].assistant);
}

TEST_F(LabCorpusTest, PoisonCoversTheWholeTriggerFamilyAndDegradedBreaksEveryTopic) {
  DatasetOptions options;
  options.degraded = true;
  LabDatasets sets = MakeLabDatasets(options);
  std::set<std::string> poisoned_topics;
  for (const ChatRow& row : sets.poisoned)
    for (const Topic& topic : LabTopics())
      for (const std::string& bad : topic.bad_advice)
        if (row.assistant == bad) poisoned_topics.insert(topic.name);
  EXPECT_EQ(poisoned_topics, (std::set<std::string>{"firewall", "network_policy", "waf"}));
  ASSERT_EQ(sets.degraded.size(), sets.clean.size());
  for (size_t i = 0; i < sets.degraded.size(); ++i) {
    const Topic* topic = TopicOfQuestion(sets.degraded[i].user);
    ASSERT_NE(topic, nullptr) << sets.degraded[i].user;
    EXPECT_NE(
        std::find(topic->bad_advice.begin(), topic->bad_advice.end(), sets.degraded[i].assistant),
        topic->bad_advice.end());
  }
}

}  // namespace
}  // namespace gauntlet::eval
