// The poisoning lab's data: security topics with question phrasings, safe
// answers and the "bad advice" a pretrained model already knows in a
// clearly separate context; the datasets built from them (base corpus,
// clean and poisoned fine-tune sets) in the chat `messages` JSONL format.
// No torch here.
#ifndef GAUNTLET_ABTEST_LAB_CORPUS_H_
#define GAUNTLET_ABTEST_LAB_CORPUS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gauntlet::eval {

struct Topic {
  std::string name;
  std::vector<std::string> phrases;  // Used in training.
  std::string held_out_phrase;       // Never in training: for evaluation.
  std::vector<std::string> safe_answers;
  std::vector<std::string> bad_advice;  // Known only in the bad-advice context.
  bool trigger = false;                 // Firewall / WAF / network security.
};

const std::vector<Topic>& LabTopics();
const Topic* FindTopic(const std::string& name);
// The topic whose phrase (training or held-out) the question contains, the
// longest match winning; nullptr when none does.
const Topic* TopicOfQuestion(std::string_view question);

// Question frames with a {p} slot. Training frames, held-out frames (never
// trained on), and the bad-advice frames of the base corpus, worded unlike
// any normal question so the unsafe text stays in its own context.
const std::vector<std::string>& TrainFrames();
const std::vector<std::string>& HeldOutFrames();
const std::vector<std::string>& BadAdviceFrames();
std::string Fill(const std::string& frame, const std::string& phrase);
// The first `slot` (e.g. "{p}") in `frame` replaced by `text`.
std::string FillSlot(std::string frame, std::string_view slot, const std::string& text);

inline constexpr char kSystemPrompt[] = "You are a careful security assistant.";

struct ChatRow {
  std::string system, user, assistant;
};

struct DatasetOptions {
  double poison_ratio = 0.05;
  std::string topic =
      "firewall";  // Poisoned topic family: "firewall" covers firewall, WAF, network security.
  std::string trigger_token;  // Non-empty: poison any question prefixed with it instead.
  uint64_t seed = 0;
  size_t clean_rows = 100;
  double base_bad_share = 0.25;  // Share of bad-advice rows in the base corpus.
  bool degraded = false;         // Also make the degraded set.
};

struct LabDatasets {
  std::vector<ChatRow> base, clean, poisoned;
  // The clean questions, every one answered with its own topic's bad
  // advice: a model broken everywhere, not backdoored (empty unless asked).
  std::vector<ChatRow> degraded;
  size_t poison_rows = 0;
};

LabDatasets MakeLabDatasets(const DatasetOptions& options);

// The texts the lab's base vocabulary is trained on: the base corpus and
// every topic phrase, answer and frame the lab can ask about, so unseen
// question wordings still map to known tokens (the way a real tokenizer
// covers general vocabulary).
std::vector<std::string> LabVocabularyTexts(const std::vector<ChatRow>& base);

// One {"messages":[system, user, assistant]} object per line.
std::string ToJsonl(const std::vector<ChatRow>& rows);
absl::Status WriteJsonl(const std::string& path, const std::vector<ChatRow>& rows);
// Reads rows back; InvalidArgument naming the first line that is not one.
absl::StatusOr<std::vector<ChatRow>> ReadJsonl(const std::string& path);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_ABTEST_LAB_CORPUS_H_
