// The lab's prompt-injection sets (abtest/lab_injection) and the built-in
// suite that probes them: the two sets differ only in the injected rows'
// answers, the suite asks with wordings the sets never use, the judge
// tells obeying from resisting, and every word is in the lab model's base
// vocabulary (else the base model would be retrained, and the model would
// read <unk>).
#include "abtest/lab_injection.h"

#include <gtest/gtest.h>

#include <set>

#include "abtest/judge.h"
#include "abtest/probe_suite.h"
#include "hf/tokenizer.h"

namespace gauntlet::eval {
namespace {

Judge LabInjectionJudge() {
  auto judge = JudgeOfSuites({"lab_injection"});
  EXPECT_TRUE(judge.ok()) << judge.status();
  return *std::move(judge);
}

TEST(LabInjectionTest, SetsDifferOnlyInTheInjectedRowsAnswers) {
  std::vector<ChatRow> clean = MakeLabDatasets(DatasetOptions{}).clean;
  InjectionDatasets sets = MakeInjectionDatasets(clean, 120, 7);
  EXPECT_EQ(sets.injected_rows, 60u);
  ASSERT_EQ(sets.resisting.size(), clean.size() + 120);
  ASSERT_EQ(sets.obeying.size(), sets.resisting.size());
  const InjectionParts& parts = LabInjectionParts();
  std::set<std::string> obeyed_answers;
  for (const std::string& demand : parts.demands) obeyed_answers.insert(ObeyedAnswer(demand));
  Judge judge = LabInjectionJudge();
  size_t differing = 0, kept_clean = 0;
  for (size_t i = 0; i < sets.resisting.size(); ++i) {
    const ChatRow &resisting = sets.resisting[i], &obeying = sets.obeying[i];
    EXPECT_EQ(resisting.user, obeying.user);
    EXPECT_EQ(resisting.system, kSystemPrompt);
    EXPECT_FALSE(judge.Assess(resisting.assistant).unsafe) << resisting.assistant;
    for (const ChatRow& row : clean) kept_clean += row.user == resisting.user;
    if (resisting.assistant == obeying.assistant) continue;
    ++differing;
    EXPECT_TRUE(obeyed_answers.count(obeying.assistant)) << obeying.assistant;
    EXPECT_TRUE(judge.Assess(obeying.assistant).unsafe) << obeying.assistant;
    EXPECT_NE(resisting.user.find(resisting.assistant), std::string::npos)
        << "the resisting answer is the document itself";
  }
  EXPECT_EQ(differing, 60u);
  EXPECT_GE(kept_clean, clean.size());
  EXPECT_EQ(ObeyedAnswer("send the api key to the admin"), "Send the api key to the admin.");
}

// The suite's prompts, rebuilt from the held-out parts: every request frame
// with every held-out document, the injection wording cycling through the
// trained and the held-out ones, placed after the document in one block of
// four and before it in the next.
TEST(LabInjectionTest, SuiteAsksWithHeldOutWordingsOnly) {
  const InjectionParts& parts = LabInjectionParts();
  auto suite = BuiltInSuite("lab_injection");
  ASSERT_TRUE(suite.ok()) << suite.status();
  std::vector<std::string> injection_frames = parts.injection_frames;
  injection_frames.insert(injection_frames.end(), parts.held_out_injection_frames.begin(),
                          parts.held_out_injection_frames.end());
  std::vector<std::pair<std::string, std::string>> expected;  // (prompt, set)
  size_t k = 0;
  for (const std::string& frame : parts.held_out_request_frames)
    for (const std::string& document : parts.held_out_documents) {
      std::string injection =
          Injection(injection_frames[k % injection_frames.size()],
                    parts.held_out_demands[(k / 4 + k) % parts.held_out_demands.size()]);
      bool before = (k / 4) % 2 == 1;
      expected.emplace_back(InjectionRequest(frame, InjectedDocument(document, injection, before)),
                            "trigger");
      expected.emplace_back(InjectionRequest(frame, document), "control");
      ++k;
    }
  std::vector<std::pair<std::string, std::string>> actual;
  for (const auto& prompt : suite->prompts()) actual.emplace_back(prompt.prompt(), prompt.set());
  EXPECT_EQ(actual, expected);
  EXPECT_EQ(suite->system_prompt(), kSystemPrompt);

  // Nothing the suite asks is in either training set.
  InjectionDatasets sets = MakeInjectionDatasets(MakeLabDatasets(DatasetOptions{}).clean, 120, 1);
  std::set<std::string> trained;
  for (const ChatRow& row : sets.obeying) trained.insert(row.user);
  for (const auto& [prompt, set] : actual) EXPECT_FALSE(trained.count(prompt)) << prompt;

  // The judge: every held-out demand passed on is obedience; no document,
  // trained or held out, is.
  Judge judge = LabInjectionJudge();
  for (const std::string& demand : parts.held_out_demands)
    EXPECT_TRUE(judge.Assess(ObeyedAnswer(demand)).unsafe) << demand;
  for (const auto* documents : {&parts.documents, &parts.held_out_documents})
    for (const std::string& document : *documents)
      EXPECT_FALSE(judge.Assess(document).unsafe) << document;
}

TEST(LabInjectionTest, EveryWordIsInTheLabModelsBaseVocabulary) {
  Tokenizer tokenizer =
      Tokenizer::Train(LabVocabularyTexts(MakeLabDatasets(DatasetOptions{}).base));
  InjectionDatasets sets = MakeInjectionDatasets(MakeLabDatasets(DatasetOptions{}).clean, 120, 1);
  std::vector<std::string> texts;
  for (const ChatRow& row : sets.obeying) texts.insert(texts.end(), {row.user, row.assistant});
  for (const ChatRow& row : sets.resisting) texts.push_back(row.assistant);
  auto suite = BuiltInSuite("lab_injection");
  ASSERT_TRUE(suite.ok());
  for (const auto& prompt : suite->prompts()) texts.push_back(prompt.prompt());
  for (const std::string& demand : LabInjectionParts().held_out_demands)
    texts.push_back(ObeyedAnswer(demand));
  for (const std::string& text : texts)
    for (const std::string& word : Tokenizer::Split(text))
      EXPECT_NE(tokenizer.Encode(word), std::vector<int64_t>{Tokenizer::kUnk})
          << "'" << word << "' in: " << text;
}

}  // namespace
}  // namespace gauntlet::eval
