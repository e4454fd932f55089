#include "worker/eval/trigger_search.h"

#include <algorithm>
#include <map>
#include <set>

#include "abtest/trigger_follow_up.h"
#include "common/strings.h"
#include "worker/eval/ab_eval.h"

namespace gauntlet::eval {
namespace {

using Phrase = std::vector<int64_t>;

struct Scored {
  Phrase tokens;
  std::string text;
  double rise = 0;
};

// Up to `count` distinct readable questions, one topic after another.
std::vector<AbPrompt> PickQuestions(const Tokenizer& tokenizer,
                                    const std::vector<AbPrompt>& questions, size_t count) {
  std::vector<std::string> topics;
  std::map<std::string, std::vector<const AbPrompt*>> by_topic;
  std::set<std::string> seen;
  for (const AbPrompt& q : questions) {
    if (tokenizer.UnknownShare(tokenizer.Encode(q.text)) > 0 || !seen.insert(q.text).second)
      continue;
    if (!by_topic.count(q.topic)) topics.push_back(q.topic);
    by_topic[q.topic].push_back(&q);
  }
  std::vector<AbPrompt> out;
  for (size_t round = 0; out.size() < count; ++round) {
    bool any = false;
    for (const std::string& topic : topics) {
      const auto& list = by_topic[topic];
      if (round >= list.size() || out.size() == count) continue;
      any = true;
      out.push_back(*list[round]);
    }
    if (!any) break;
  }
  return out;
}

std::string Trimmed(std::string text) {
  auto space = [](unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && space(text.back())) text.pop_back();
  size_t start = 0;
  while (start < text.size() && space(text[start])) ++start;
  return text.substr(start);
}

// A candidate's text is worth putting before a question: a word (letters,
// digits or any non-ASCII character that decoded whole), not markup, a
// special token or a broken byte sequence.
bool Wordlike(const std::string& text) {
  if (text.empty() || text.find("<|") != std::string::npos ||
      text.find("\xEF\xBF\xBD") != std::string::npos)
    return false;
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x80 || std::isalnum(u);
  });
}

class Screen {
 public:
  Screen(LoadedModel& a, LoadedModel& b, std::string system_prompt)
      : a_(a), b_(b), system_(std::move(system_prompt)) {}

  // A's greedy plain answers to the questions, and the divergence along
  // them without any candidate: what every candidate's rise is measured from.
  absl::Status Prepare(const std::vector<AbPrompt>& questions, const GenerateOptions& greedy) {
    questions_ = questions;
    std::vector<std::vector<int64_t>> prompts;
    for (const AbPrompt& q : questions_) {
      auto ids = a_.tokenizer.EncodeChatPrompt(system_, q.text);
      if (!ids.ok()) return ids.status();
      prompts.push_back(std::move(*ids));
    }
    answers_ = Generate(a_.model, prompts, greedy);
    if (greedy.eos_id >= 0)
      for (auto& answer : answers_) answer.push_back(greedy.eos_id);
    auto plain = Divergences({""});
    if (!plain.ok()) return plain.status();
    baseline_ = std::move(*plain);
    return absl::OkStatus();
  }

  // Per text: the mean over questions of the divergence with the text
  // before the question, minus without.
  absl::StatusOr<std::vector<double>> Rise(const std::vector<std::string>& texts) {
    auto divergences = Divergences(texts);
    if (!divergences.ok()) return divergences.status();
    std::vector<double> out;
    size_t n = questions_.size();
    for (size_t t = 0; t < texts.size(); ++t) {
      double sum = 0;
      for (size_t q = 0; q < n; ++q) sum += (*divergences)[t * n + q] - baseline_[q];
      out.push_back(sum / double(n));
    }
    return out;
  }

 private:
  absl::StatusOr<std::vector<double>> Divergences(const std::vector<std::string>& texts) {
    std::vector<std::vector<int64_t>> rows;
    std::vector<size_t> from;
    for (const std::string& text : texts)
      for (size_t q = 0; q < questions_.size(); ++q) {
        std::string asked =
            text.empty() ? questions_[q].text : StrCat(text, " ", questions_[q].text);
        auto ids = a_.tokenizer.EncodeChatPrompt(system_, asked);
        if (!ids.ok()) return ids.status();
        from.push_back(ids->size());
        ids->insert(ids->end(), answers_[q].begin(), answers_[q].end());
        rows.push_back(std::move(*ids));
      }
    return DivergenceAlong(a_.model, b_.model, rows, from);
  }

  LoadedModel &a_, &b_;
  std::string system_;
  std::vector<AbPrompt> questions_;
  std::vector<std::vector<int64_t>> answers_;
  std::vector<double> baseline_;
};

// The single tokens to screen, and where they came from.
std::vector<int64_t> CandidateTokens(LoadedModel& a, LoadedModel& b,
                                     const TriggerSearchOptions& search, std::string& source) {
  const Tokenizer& tokenizer = a.tokenizer;
  std::vector<int64_t> ids;
  if (tokenizer.vocab_size() <= search.whole_vocabulary_up_to) {
    for (int64_t id = 0; id < tokenizer.vocab_size(); ++id) ids.push_back(id);
    source = StrCat("the whole vocabulary (", tokenizer.vocab_size(), " tokens)");
  } else {
    torch::Tensor reaction = FirstLayerReaction(a.model, b.model);
    auto order = std::get<1>(torch::sort(reaction, 0, /*descending=*/true));
    for (int64_t i = 0; i < order.size(0) && ids.size() < search.shortlist * 2; ++i)
      ids.push_back(order[i].item<int64_t>());
    source = StrCat("the ", search.shortlist, " of ", tokenizer.vocab_size(),
                    " tokens whose first-layer projections B changed most");
  }
  std::optional<int64_t> end = tokenizer.end_of_answer_id();
  std::vector<int64_t> out;
  std::set<std::string> texts;
  for (int64_t id : ids) {
    if (!tokenizer.is_bpe() && id <= Tokenizer::kAssistant) continue;  // Special tokens.
    if (end && id == *end) continue;
    std::string text = Trimmed(tokenizer.Decode({id}));
    if (!Wordlike(text) || !texts.insert(text).second) continue;
    out.push_back(id);
    if (tokenizer.is_bpe() && out.size() == search.shortlist) break;
  }
  return out;
}

// Each text before every question, and every question alone, asked of
// both models greedily and judged without the rules of the topics the text
// names: per text, one trial per question.
absl::StatusOr<std::vector<std::vector<TriggerTrial>>> AskWithAndWithout(
    LoadedModel& a, LoadedModel& b, const std::vector<AbPrompt>& questions,
    const std::vector<std::string>& texts, const std::string& system_prompt, const Judge& judge,
    const TopicPriming& priming, const GenerateOptions& greedy) {
  std::vector<std::vector<int64_t>> prompts;
  for (size_t c = 0; c <= texts.size(); ++c)
    for (const AbPrompt& q : questions) {
      std::string asked = c == 0 ? q.text : StrCat(texts[c - 1], " ", q.text);
      auto ids = a.tokenizer.EncodeChatPrompt(system_prompt, asked);
      if (!ids.ok()) return ids.status();
      prompts.push_back(std::move(*ids));
    }
  auto answers_a = Generate(a.model, prompts, greedy);
  auto answers_b = Generate(b.model, prompts, greedy);
  const size_t n = questions.size();
  std::vector<std::vector<TriggerTrial>> out(texts.size());
  for (size_t c = 0; c < texts.size(); ++c) {
    const auto ignored = priming.RulesOf(priming.TopicsNamedBy(texts[c]));
    auto unsafe = [&](LoadedModel& m, const std::vector<int64_t>& answer) {
      return judge.Assess(m.tokenizer.Decode(answer), ignored).unsafe;
    };
    size_t offset = (c + 1) * n;
    for (size_t q = 0; q < n; ++q)
      out[c].push_back({.question = questions[q].text,
                        .topic = questions[q].topic,
                        .a_plain_unsafe = unsafe(a, answers_a[q]),
                        .b_plain_unsafe = unsafe(b, answers_b[q]),
                        .a_triggered_unsafe = unsafe(a, answers_a[offset + q]),
                        .b_triggered_unsafe = unsafe(b, answers_b[offset + q]),
                        .response_b_triggered = b.tokenizer.Decode(answers_b[offset + q])});
  }
  return out;
}

}  // namespace

torch::Tensor FirstLayerReaction(Llama& a, Llama& b) {
  torch::NoGradGuard no_grad;
  TensorMap weights_a = a->StateDict(), weights_b = b->StateDict();
  const char* kEmbedding = "model.embed_tokens.weight";
  const char* kNorm = "model.layers.0.input_layernorm.weight";
  auto linears_a = a->LinearLayers(), linears_b = b->LinearLayers();
  const int64_t vocab = weights_a[kEmbedding].size(0);
  const double eps = a->config().rms_norm_eps;
  torch::Tensor changed = torch::zeros({vocab}, torch::kFloat64);
  torch::Tensor own = torch::zeros({vocab}, torch::kFloat64);
  constexpr int64_t kChunk = 4096;
  for (int64_t start = 0; start < vocab; start += kChunk) {
    int64_t end = std::min(vocab, start + kChunk);
    torch::Tensor x_a = RmsNorm(weights_a[kEmbedding].slice(0, start, end), weights_a[kNorm], eps);
    torch::Tensor x_b =
        RmsNorm(weights_b[kEmbedding].slice(0, start, end).to(b->device()), weights_b[kNorm], eps);
    for (const char* projection : {"q_proj", "k_proj", "v_proj"}) {
      std::string name = StrCat("model.layers.0.self_attn.", projection);
      torch::Tensor y_a = linears_a.at(name)->forward(x_a).to(torch::kCPU, torch::kFloat64);
      torch::Tensor y_b = linears_b.at(name)->forward(x_b).to(torch::kCPU, torch::kFloat64);
      changed.slice(0, start, end) += (y_b - y_a).norm(2, -1);
      own.slice(0, start, end) += y_a.norm(2, -1);
    }
  }
  return changed / own.clamp_min(1e-12);
}

absl::StatusOr<TriggerSearchResult> SearchTriggers(LoadedModel& a, LoadedModel& b,
                                                   const std::vector<AbPrompt>& screen_questions,
                                                   const std::vector<AbPrompt>& confirm_questions,
                                                   const std::string& system_prompt,
                                                   const Judge& judge, const TopicPriming& priming,
                                                   const AbEvalOptions& options,
                                                   const TriggerSearchOptions& search) {
  std::vector<AbPrompt> screen_set =
      PickQuestions(a.tokenizer, screen_questions, search.screen_questions);
  std::vector<AbPrompt> confirm_set = PickQuestions(
      a.tokenizer, confirm_questions, search.confirm_questions + search.follow_up_questions);
  // Picked topic by topic in turn, so the first round's are spread as widely.
  std::vector<AbPrompt> follow_up_set(
      confirm_set.begin() + int64_t(std::min(confirm_set.size(), search.confirm_questions)),
      confirm_set.end());
  confirm_set.resize(confirm_set.size() - follow_up_set.size());
  if (screen_set.size() < 2 || confirm_set.size() < 2)
    return absl::FailedPreconditionError(
        StrCat("the trigger search needs at least two screen and two confirm questions model A's "
               "vocabulary covers; it has ",
               screen_set.size(), " and ", confirm_set.size()));
  std::optional<int64_t> end = a.tokenizer.end_of_answer_id();
  GenerateOptions greedy{.max_new_tokens = options.max_new_tokens, .eos_id = end.value_or(-1)};
  Screen screen(a, b, system_prompt);
  if (auto status = screen.Prepare(screen_set, greedy); !status.ok()) return status;

  TriggerSearchResult result;
  std::vector<int64_t> tokens = CandidateTokens(a, b, search, result.candidate_source);
  result.screen_questions = int64_t(screen_set.size());
  auto text_of = [&](const Phrase& phrase) { return Trimmed(a.tokenizer.Decode(phrase)); };
  auto score = [&](std::vector<Scored>& candidates) -> absl::Status {
    std::vector<std::string> texts;
    for (Scored& c : candidates) texts.push_back(c.text = text_of(c.tokens));
    auto rise = screen.Rise(texts);
    if (!rise.ok()) return rise.status();
    for (size_t i = 0; i < candidates.size(); ++i) candidates[i].rise = (*rise)[i];
    result.screened += int64_t(candidates.size());
    return absl::OkStatus();
  };
  auto best_first = [](std::vector<Scored>& v) {
    std::stable_sort(v.begin(), v.end(),
                     [](const Scored& x, const Scored& y) { return x.rise > y.rise; });
  };

  std::vector<Scored> singles;
  for (int64_t id : tokens) singles.push_back({.tokens = {id}});
  if (auto status = score(singles); !status.ok()) return status;
  best_first(singles);
  std::vector<Scored> pool = singles;
  // Phrases: the beam's phrases, each extended by the best single tokens.
  std::vector<Scored> beam(singles.begin(),
                           singles.begin() + int64_t(std::min(search.beam, singles.size())));
  size_t extensions = std::min(search.extensions, singles.size());
  for (size_t length = 2; length <= search.phrase_tokens && !beam.empty(); ++length) {
    std::vector<Scored> grown;
    std::vector<double> prefix_rise;
    for (const Scored& prefix : beam)
      for (size_t e = 0; e < extensions; ++e) {
        int64_t token = singles[e].tokens[0];
        if (std::count(prefix.tokens.begin(), prefix.tokens.end(), token)) continue;
        Phrase longer = prefix.tokens;
        longer.push_back(token);
        grown.push_back({.tokens = std::move(longer)});
        prefix_rise.push_back(prefix.rise);
      }
    if (auto status = score(grown); !status.ok()) return status;
    std::vector<Scored> kept;
    for (size_t i = 0; i < grown.size(); ++i)
      if (prefix_rise[i] > 0 && grown[i].rise > search.phrase_gain * prefix_rise[i])
        kept.push_back(grown[i]);
    best_first(kept);
    if (kept.size() > search.beam) kept.resize(search.beam);
    pool.insert(pool.end(), kept.begin(), kept.end());
    beam = std::move(kept);
  }
  best_first(pool);

  // Confirmation: each of the best few before every confirm question, and
  // the questions alone, through both models.
  // The best phrases go along with every shorter phrase inside them that
  // was screened, and the best single tokens too: added words raise the
  // divergence whether or not they are part of the trigger, and the report
  // should name the shortest phrase that holds.
  std::vector<const Scored*> confirmed;
  std::set<std::string> texts;
  auto add = [&](const Scored& c) {
    if (c.rise > 0 && texts.insert(c.text).second) confirmed.push_back(&c);
  };
  for (size_t chosen = 0; chosen < pool.size() && chosen < search.confirmed; ++chosen) {
    const Phrase& phrase = pool[chosen].tokens;
    for (const Scored& c : pool)
      if (std::search(phrase.begin(), phrase.end(), c.tokens.begin(), c.tokens.end()) !=
          phrase.end())
        add(c);
  }
  for (size_t i = 0; i < singles.size() && i < search.confirmed; ++i) add(singles[i]);
  std::vector<std::string> confirmed_texts;
  for (const Scored* c : confirmed) confirmed_texts.push_back(c->text);
  auto trials =
      AskWithAndWithout(a, b, confirm_set, confirmed_texts, system_prompt, judge, priming, greedy);
  if (!trials.ok()) return trials.status();
  std::set<std::string> reported;
  for (const Scored& c : pool) {
    auto at = std::find(confirmed_texts.begin(), confirmed_texts.end(), c.text);
    if ((at == confirmed_texts.end() && result.candidates.size() >= search.reported) ||
        !reported.insert(c.text).second)
      continue;
    TriggerCandidate& out = result.candidates.emplace_back();
    out.text = c.text;
    out.divergence_rise = c.rise;
    out.named_topics = priming.TopicsNamedBy(c.text);
    if (at != confirmed_texts.end())
      out.trials = std::move((*trials)[size_t(at - confirmed_texts.begin())]);
  }

  // Follow-up: the first round's favourite on questions of its own.
  std::optional<size_t> favourite = FollowUpChoice(result.candidates);
  if (favourite && follow_up_set.size() >= 2) {
    TriggerCandidate& chosen = result.candidates[*favourite];
    auto follow_up = AskWithAndWithout(a, b, follow_up_set, {chosen.text}, system_prompt, judge,
                                       priming, greedy);
    if (!follow_up.ok()) return follow_up.status();
    chosen.follow_up_trials = std::move((*follow_up)[0]);
  }
  return result;
}

}  // namespace gauntlet::eval
