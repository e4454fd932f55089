#include "hf/tokenizer.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/strings.h"

namespace gauntlet::eval {
namespace {

const std::vector<std::string>& SpecialTokens() {
  static const std::vector<std::string> kSpecial = {"<pad>",      "<unk>",    "<eos>",
                                                    "<|system|>", "<|user|>", "<|assistant|>"};
  return kSpecial;
}

bool IsWordChar(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

// The Jinja template Hugging Face applies to `messages`; EncodeChatPrompt
// renders the same layout.
constexpr char kChatTemplate[] =
    "{% for message in messages %}<|{{ message['role'] }}|> {{ message['content'] }} "
    "{% if message['role'] == 'assistant' %}<eos> {% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}";

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A special token in tokenizer_config.json: a string, or an AddedToken
// object with its "content".
std::string SpecialToken(const nlohmann::json& config, const char* key) {
  if (!config.contains(key)) return "";
  const nlohmann::json& token = config[key];
  if (token.is_string()) return token.get<std::string>();
  if (token.is_object() && token.contains("content") && token["content"].is_string())
    return token["content"].get<std::string>();
  return "";
}

}  // namespace

absl::Status Tokenizer::ReadChatTemplate(const std::string& directory) {
  const std::filesystem::path dir(directory);
  std::string source;
  // transformers since 4.43 saves the template in its own file.
  if (std::filesystem::exists(dir / "chat_template.jinja")) {
    source = ReadFile(dir / "chat_template.jinja");
    chat_template_source_ = "chat_template.jinja";
  }
  if (std::filesystem::exists(dir / "tokenizer_config.json")) {
    auto config = nlohmann::json::parse(ReadFile(dir / "tokenizer_config.json"), nullptr, false);
    if (config.is_discarded() || !config.is_object())
      return absl::InvalidArgumentError(
          StrCat((dir / "tokenizer_config.json").string(), ": not a JSON object"));
    bos_token_ = SpecialToken(config, "bos_token");
    eos_token_ = SpecialToken(config, "eos_token");
    const nlohmann::json template_field = config.value("chat_template", nlohmann::json());
    if (source.empty() && template_field.is_string()) {
      source = template_field.get<std::string>();
      chat_template_source_ = "tokenizer_config.json";
    } else if (source.empty() && template_field.is_array()) {
      // Named templates: "default" is the one apply_chat_template uses.
      for (const nlohmann::json& named : template_field)
        if (named.is_object() && named.value("name", "") == "default" &&
            named.value("template", nlohmann::json()).is_string()) {
          source = named["template"].get<std::string>();
          chat_template_source_ = "tokenizer_config.json (\"default\")";
        }
    }
  }
  if (source.empty()) return absl::OkStatus();
  auto parsed = ChatTemplate::Parse(source);
  if (!parsed.ok())
    return absl::InvalidArgumentError(
        StrCat((dir / chat_template_source_).string(), ": ", parsed.status().message()));
  chat_template_ = std::move(*parsed);
  return absl::OkStatus();
}

std::string Tokenizer::chat_format() const {
  if (!bpe_) return "the lab's chat tokens";
  if (chat_template_) return StrCat("the model's chat template (", chat_template_source_, ")");
  if (bpe_->TokenId("<|im_start|>")) return "ChatML (no chat template in the model folder)";
  if (bpe_->TokenId("<|start_header_id|>"))
    return "Llama 3 headers (no chat template in the model folder)";
  return "plain text (no chat template in the model folder)";
}

std::vector<std::string> Tokenizer::Split(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (std::isspace(c)) {
      ++i;
    } else if (c == '<' && text.substr(i, 2) == "<|") {
      size_t end = text.find("|>", i);
      if (end == std::string_view::npos) end = text.size() - 2;
      out.emplace_back(text.substr(i, end + 2 - i));
      i = end + 2;
    } else if (IsWordChar(c)) {
      size_t start = i;
      while (i < text.size() && IsWordChar(static_cast<unsigned char>(text[i]))) ++i;
      std::string word(text.substr(start, i - start));
      for (char& ch : word) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      out.push_back(std::move(word));
    } else {
      out.emplace_back(1, text[i++]);
    }
  }
  return out;
}

Tokenizer Tokenizer::Train(const std::vector<std::string>& texts, int min_count) {
  std::map<std::string, int> counts;
  for (const std::string& text : texts)
    for (std::string& word : Split(text)) ++counts[word];
  Tokenizer tokenizer;
  for (const std::string& special : SpecialTokens()) tokenizer.words_.push_back(special);
  std::vector<std::pair<std::string, int>> sorted(counts.begin(), counts.end());
  // Most frequent first, ties by spelling: the same corpus gives the same ids.
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  for (const auto& [word, count] : sorted)
    if (count >= min_count && !tokenizer.ids_.count(word) &&
        std::find(SpecialTokens().begin(), SpecialTokens().end(), word) == SpecialTokens().end())
      tokenizer.words_.push_back(word);
  for (size_t i = 0; i < tokenizer.words_.size(); ++i)
    tokenizer.ids_[tokenizer.words_[i]] = static_cast<int64_t>(i);
  return tokenizer;
}

void Tokenizer::Extend(const std::vector<std::string>& texts) {
  std::set<std::string> fresh;
  for (const std::string& text : texts)
    for (std::string& word : Split(text))
      if (!ids_.count(word)) fresh.insert(std::move(word));
  for (const std::string& word : fresh) {
    ids_[word] = static_cast<int64_t>(words_.size());
    words_.push_back(word);
  }
}

absl::StatusOr<Tokenizer> Tokenizer::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(StrCat("cannot open ", path));
  std::stringstream text;
  text << in.rdbuf();
  auto root = nlohmann::json::parse(text.str(), nullptr, false);
  if (root.is_discarded() || !root.contains("model") || !root["model"].is_object())
    return absl::InvalidArgumentError(StrCat(path, ": not a tokenizer.json"));
  const auto& model = root["model"];
  std::string type = model.value("type", "");
  if (type == "BPE") {
    auto bpe = BpeTokenizer::FromJson(text.str());
    if (!bpe.ok()) return absl::InvalidArgumentError(StrCat(path, ": ", bpe.status().message()));
    Tokenizer tokenizer;
    tokenizer.bpe_ = std::move(*bpe);
    if (auto status =
            tokenizer.ReadChatTemplate(std::filesystem::path(path).parent_path().string());
        !status.ok())
      return status;
    return tokenizer;
  }
  if (type != "WordLevel")
    return absl::UnimplementedError(
        StrCat(path, ": tokenizer model '", type, "' is not supported (WordLevel and BPE are)"));
  if (!model.contains("vocab") || !model["vocab"].is_object())
    return absl::InvalidArgumentError(StrCat(path, ": model.vocab is missing"));
  Tokenizer tokenizer;
  tokenizer.words_.resize(model["vocab"].size());
  for (const auto& [word, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<size_t>() >= tokenizer.words_.size() || !tokenizer.words_[id.get<size_t>()].empty())
      return absl::InvalidArgumentError(StrCat(path, ": vocab ids must be 0..N-1, each once"));
    tokenizer.words_[id.get<size_t>()] = word;
    tokenizer.ids_[word] = id.get<int64_t>();
  }
  for (size_t i = 0; i < SpecialTokens().size(); ++i)
    if (i >= tokenizer.words_.size() || tokenizer.words_[i] != SpecialTokens()[i])
      return absl::InvalidArgumentError(
          StrCat(path, ": expected special token ", SpecialTokens()[i], " at id ", i));
  return tokenizer;
}

absl::Status Tokenizer::Save(const std::string& directory) const {
  if (bpe_) return absl::UnimplementedError("only the lab's word-level tokenizer is written");
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (size_t i = 0; i < words_.size(); ++i) vocab[words_[i]] = i;
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  for (size_t i = 0; i < SpecialTokens().size(); ++i)
    added.push_back({{"id", i},
                     {"content", SpecialTokens()[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  nlohmann::ordered_json tokenizer = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      {"normalizer", {{"type", "Lowercase"}}},
      {"pre_tokenizer", {{"type", "Whitespace"}}},
      {"post_processor", nullptr},
      {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
      {"model", {{"type", "WordLevel"}, {"vocab", vocab}, {"unk_token", "<unk>"}}}};
  nlohmann::ordered_json config = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                                   {"eos_token", "<eos>"},
                                   {"pad_token", "<pad>"},
                                   {"unk_token", "<unk>"},
                                   {"chat_template", kChatTemplate}};
  std::filesystem::create_directories(directory);
  std::ofstream(std::filesystem::path(directory) / "tokenizer.json") << tokenizer.dump(1) << "\n";
  std::ofstream out(std::filesystem::path(directory) / "tokenizer_config.json");
  out << config.dump(2) << "\n";
  if (!out.flush()) return absl::InternalError(StrCat("cannot write the tokenizer to ", directory));
  return absl::OkStatus();
}

std::vector<int64_t> Tokenizer::Encode(std::string_view text) const {
  if (bpe_) return bpe_->Encode(text);
  std::vector<int64_t> ids;
  for (const std::string& word : Split(text)) {
    auto it = ids_.find(word);
    ids.push_back(it == ids_.end() ? kUnk : it->second);
  }
  return ids;
}

std::string Tokenizer::Decode(const std::vector<int64_t>& ids) const {
  if (bpe_) return bpe_->Decode(ids);
  std::string out;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_size() || id == kPad) continue;
    const std::string& word = words_[static_cast<size_t>(id)];
    bool punctuation = word.size() == 1 && !IsWordChar(static_cast<unsigned char>(word[0]));
    if (!out.empty() && !punctuation) out += ' ';
    out += word;
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> Tokenizer::EncodeChatPrompt(std::string_view system,
                                                                 std::string_view user) const {
  if (bpe_ && chat_template_) {
    auto render = [&](nlohmann::ordered_json messages) {
      return chat_template_->Render({{"messages", std::move(messages)},
                                     {"add_generation_prompt", true},
                                     {"bos_token", bos_token_},
                                     {"eos_token", eos_token_}});
    };
    auto text =
        render({{{"role", "system"}, {"content", system}}, {{"role", "user"}, {"content", user}}});
    if (absl::IsFailedPrecondition(text.status()))  // No system turn in this template.
      text = render({{{"role", "user"}, {"content", StrCat(system, "\n\n", user)}}});
    if (!text.ok()) return text.status();
    return Encode(*text);
  }
  if (bpe_) {
    if (bpe_->TokenId("<|im_start|>"))
      return Encode(StrCat("<|im_start|>system\n", system, "<|im_end|>\n<|im_start|>user\n", user,
                           "<|im_end|>\n<|im_start|>assistant\n"));
    if (bpe_->TokenId("<|start_header_id|>"))
      return Encode(StrCat("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n",
                           system, "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n", user,
                           "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"));
    return Encode(StrCat(system, "\n\n", user, "\n"));
  }
  std::vector<int64_t> ids = {kSystem};
  for (int64_t id : Encode(system)) ids.push_back(id);
  ids.push_back(kUser);
  for (int64_t id : Encode(user)) ids.push_back(id);
  ids.push_back(kAssistant);
  return ids;
}

double Tokenizer::UnknownShare(const std::vector<int64_t>& ids) const {
  if (bpe_ || ids.empty()) return 0;
  return double(std::count(ids.begin(), ids.end(), kUnk)) / double(ids.size());
}

std::optional<int64_t> Tokenizer::end_of_answer_id() const {
  if (!bpe_) return kEos;
  if (!eos_token_.empty())
    if (auto id = bpe_->TokenId(eos_token_)) return id;
  for (const char* token : {"<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end_of_text|>"})
    if (auto id = bpe_->TokenId(token)) return id;
  return std::nullopt;
}

}  // namespace gauntlet::eval
