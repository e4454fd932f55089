#include "hf/bpe.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <climits>
#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace gauntlet::eval {
namespace {

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// A code point and where its bytes start; invalid UTF-8 bytes stand alone.
struct Char {
  uint32_t cp;
  size_t at;
};

std::vector<Char> DecodeUtf8(std::string_view s) {
  std::vector<Char> out;
  for (size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 1;
    if (i + n > s.size()) n = 1;
    uint32_t cp = n == 1 ? b : b & (0xFF >> (n + 1));
    for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    out.push_back({cp, i});
    i += n;
  }
  return out;
}

// The regex classes of the pre-tokenizers as the Rust `tokenizers` library
// (Oniguruma) reads them, from ICU's character database: \s is U+0009-000D,
// U+0085 and the space, line and paragraph separators; \p{L} letters and
// \p{N} numbers of every script.
bool IsSpace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x85 ||
         (U_GET_GC_MASK(static_cast<UChar32>(c)) & (U_GC_ZS_MASK | U_GC_ZL_MASK | U_GC_ZP_MASK));
}
bool IsNewline(uint32_t c) { return c == '\n' || c == '\r'; }
bool IsNumber(uint32_t c) { return U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_N_MASK; }
bool IsLetter(uint32_t c) { return U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_L_MASK; }
bool IsOther(uint32_t c) { return !IsSpace(c) && !IsLetter(c) && !IsNumber(c); }

// GPT-2's reversible map from bytes to printable characters.
const std::vector<std::string>& ByteEncoder() {
  static const std::vector<std::string> kTable = [] {
    std::vector<std::string> table(256);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
      AppendUtf8(table[b], printable ? b : next++);
    }
    return table;
  }();
  return kTable;
}

const std::map<std::string, unsigned char, std::less<>>& ByteDecoder() {
  static const std::map<std::string, unsigned char, std::less<>> kTable = [] {
    std::map<std::string, unsigned char, std::less<>> table;
    for (int b = 0; b < 256; ++b) table[ByteEncoder()[b]] = static_cast<unsigned char>(b);
    return table;
  }();
  return kTable;
}

size_t Contraction(const std::vector<Char>& c, size_t i, bool any_case) {
  if (c[i].cp != '\'') return 0;
  auto lower = [&](size_t k) -> uint32_t {
    if (k >= c.size()) return 0;
    uint32_t cp = c[k].cp;
    return any_case && cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
  };
  for (std::string_view suffix : {"re", "ve", "ll", "s", "t", "m", "d"}) {
    bool match = true;
    for (size_t k = 0; k < suffix.size(); ++k)
      match = match && lower(i + 1 + k) == uint32_t(suffix[k]);
    if (match) return 1 + suffix.size();
  }
  return 0;
}

// \s+(?!\S) then \s+: a whitespace run leaves its last character to the
// next word when one follows.
size_t WhitespaceRun(const std::vector<Char>& c, size_t i) {
  size_t j = i;
  while (j < c.size() && IsSpace(c[j].cp)) ++j;
  if (j == c.size() || j - i == 1) return j - i;
  return j - i - 1;
}

template <typename Pred>
size_t RunOf(const std::vector<Char>& c, size_t i, Pred pred, size_t limit = SIZE_MAX) {
  size_t j = i;
  while (j < c.size() && j - i < limit && pred(c[j].cp)) ++j;
  return j - i;
}

// The Unicode normalizers byte-level checkpoints use (Qwen2/3: NFC), alone
// or in a Sequence. Any other is refused: text normalized differently from
// training would be tokenized silently wrong.
absl::StatusOr<std::vector<BpeTokenizer::Normalization>> ParseNormalizers(
    const nlohmann::json& normalizer) {
  std::string type = normalizer.is_object() ? normalizer.value("type", "") : "";
  if (type == "Sequence" && normalizer.contains("normalizers") &&
      normalizer["normalizers"].is_array()) {
    std::vector<BpeTokenizer::Normalization> all;
    for (const auto& each : normalizer["normalizers"]) {
      auto some = ParseNormalizers(each);
      if (!some.ok()) return some.status();
      all.insert(all.end(), some->begin(), some->end());
    }
    return all;
  }
  static const std::map<std::string, BpeTokenizer::Normalization, std::less<>> kByName = {
      {"NFC", BpeTokenizer::Normalization::kNFC},
      {"NFD", BpeTokenizer::Normalization::kNFD},
      {"NFKC", BpeTokenizer::Normalization::kNFKC},
      {"NFKD", BpeTokenizer::Normalization::kNFKD}};
  auto it = kByName.find(type);
  if (it == kByName.end())
    return absl::InvalidArgumentError(StrCat(
        "tokenizer.json: normalizer '", type.empty() ? normalizer.dump() : type,
        "' is not supported for byte-level BPE (NFC, NFD, NFKC, NFKD or a Sequence of them)"));
  return std::vector<BpeTokenizer::Normalization>{it->second};
}

}  // namespace

std::string BpeTokenizer::Normalize(std::string_view text) const {
  if (normalizers_.empty()) return std::string(text);
  icu::UnicodeString unicode = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  for (Normalization form : normalizers_) {
    UErrorCode error = U_ZERO_ERROR;
    const icu::Normalizer2* normalizer =
        form == Normalization::kNFC    ? icu::Normalizer2::getNFCInstance(error)
        : form == Normalization::kNFD  ? icu::Normalizer2::getNFDInstance(error)
        : form == Normalization::kNFKC ? icu::Normalizer2::getNFKCInstance(error)
                                       : icu::Normalizer2::getNFKDInstance(error);
    // The instances are ICU's built-in data; normalize() fails only on
    // allocation, when the text is left as it is.
    icu::UnicodeString normalized =
        U_SUCCESS(error) ? normalizer->normalize(unicode, error) : icu::UnicodeString();
    if (U_SUCCESS(error)) unicode = std::move(normalized);
  }
  std::string out;
  unicode.toUTF8String(out);
  return out;
}

absl::StatusOr<BpeTokenizer> BpeTokenizer::FromJson(std::string_view text) {
  auto root = nlohmann::json::parse(text, nullptr, false);
  if (root.is_discarded() || !root.contains("model") || !root["model"].is_object())
    return absl::InvalidArgumentError("not a tokenizer.json");
  const auto& model = root["model"];
  if (model.value("type", "") != "BPE")
    return absl::InvalidArgumentError("the tokenizer model is not BPE");
  if (!model.contains("vocab") || !model["vocab"].is_object() || !model.contains("merges") ||
      !model["merges"].is_array())
    return absl::InvalidArgumentError("BPE tokenizer.json needs model.vocab and model.merges");
  BpeTokenizer bpe;
  int64_t max_id = -1;
  for (const auto& [token, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0)
      return absl::InvalidArgumentError(StrCat("vocab entry '", token, "' has a bad id"));
    bpe.vocab_[token] = id.get<int64_t>();
    max_id = std::max(max_id, id.get<int64_t>());
  }
  int rank = 0;
  for (const auto& merge : model["merges"]) {
    std::string left, right;
    if (merge.is_string()) {
      std::string pair = merge.get<std::string>();
      size_t space = pair.find(' ', 1);
      if (space == std::string::npos)
        return absl::InvalidArgumentError(StrCat("bad merge '", pair, "'"));
      left = pair.substr(0, space);
      right = pair.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      return absl::InvalidArgumentError("a merge is neither \"a b\" nor [a, b]");
    }
    bpe.merge_rank_.emplace(std::make_pair(left, right), rank++);
  }
  if (root.contains("added_tokens") && root["added_tokens"].is_array())
    for (const auto& token : root["added_tokens"]) {
      std::string content = token.value("content", "");
      int64_t id = token.value("id", int64_t{-1});
      if (content.empty() || id < 0) continue;
      bpe.added_.emplace_back(content, id);
      max_id = std::max(max_id, id);
    }
  std::sort(bpe.added_.begin(), bpe.added_.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  bpe.tokens_.resize(static_cast<size_t>(max_id + 1));
  for (const auto& [token, id] : bpe.vocab_) bpe.tokens_[static_cast<size_t>(id)] = token;
  for (const auto& [token, id] : bpe.added_) bpe.tokens_[static_cast<size_t>(id)] = token;
  if (root.contains("normalizer") && !root["normalizer"].is_null()) {
    auto normalizers = ParseNormalizers(root["normalizer"]);
    if (!normalizers.ok()) return normalizers.status();
    bpe.normalizers_ = *std::move(normalizers);
  }
  // Llama 3 and Qwen2 split with a regex of their own before the byte-level step.
  std::string pre = root.contains("pre_tokenizer") ? root["pre_tokenizer"].dump() : "";
  if (pre.find("\"Split\"") != std::string::npos) bpe.split_ = Split::kLlama3;
  bpe.max_digits_ = pre.find("{1,3}") != std::string::npos ? 3 : 1;
  bpe.ignore_merges_ = model.value("ignore_merges", false);
  return bpe;
}

std::optional<int64_t> BpeTokenizer::TokenId(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it != vocab_.end()) return it->second;
  for (const auto& [content, id] : added_)
    if (content == token) return id;
  return std::nullopt;
}

std::vector<std::string> BpeTokenizer::PreTokenize(std::string_view text) const {
  std::vector<Char> c = DecodeUtf8(text);
  std::vector<std::string> pieces;
  size_t i = 0;
  auto take = [&](size_t n) {
    size_t end = i + n < c.size() ? c[i + n].at : text.size();
    pieces.emplace_back(text.substr(c[i].at, end - c[i].at));
    i += n;
  };
  while (i < c.size()) {
    uint32_t cp = c[i].cp;
    uint32_t next = i + 1 < c.size() ? c[i + 1].cp : 0;
    if (size_t n = Contraction(c, i, split_ == Split::kLlama3)) {
      take(n);
    } else if (split_ == Split::kGpt2) {
      size_t lead = cp == ' ' && i + 1 < c.size() && !IsSpace(next) ? 1 : 0;
      uint32_t head = c[i + lead].cp;
      if (IsLetter(head))
        take(lead + RunOf(c, i + lead, IsLetter));
      else if (IsNumber(head))
        take(lead + RunOf(c, i + lead, IsNumber));
      else if (IsOther(head))
        take(lead + RunOf(c, i + lead, IsOther));
      else
        take(WhitespaceRun(c, i));
    } else {
      if (IsLetter(cp)) {
        take(RunOf(c, i, IsLetter));
      } else if (!IsNewline(cp) && !IsNumber(cp) && IsLetter(next)) {
        take(1 + RunOf(c, i + 1, IsLetter));
      } else if (IsNumber(cp)) {
        take(RunOf(c, i, IsNumber, max_digits_));
      } else if (IsOther(cp) || (cp == ' ' && IsOther(next))) {
        size_t lead = cp == ' ' ? 1 : 0;
        size_t n = lead + RunOf(c, i + lead, IsOther);
        take(n + RunOf(c, i + n, IsNewline));
      } else {
        size_t run = RunOf(c, i, IsSpace), last_newline = 0;
        for (size_t k = 0; k < run; ++k)
          if (IsNewline(c[i + k].cp)) last_newline = k + 1;
        take(last_newline ? last_newline : WhitespaceRun(c, i));
      }
    }
  }
  return pieces;
}

void BpeTokenizer::EncodePiece(std::string_view piece, std::vector<int64_t>& out) const {
  std::string mapped;
  std::vector<std::string> symbols;
  for (unsigned char b : piece) {
    mapped += ByteEncoder()[b];
    symbols.push_back(ByteEncoder()[b]);
  }
  if (auto whole = vocab_.find(mapped); ignore_merges_ && whole != vocab_.end()) {
    out.push_back(whole->second);
    return;
  }
  while (symbols.size() > 1) {
    int best = INT_MAX;
    size_t at = 0;
    for (size_t k = 0; k + 1 < symbols.size(); ++k) {
      auto rank = merge_rank_.find({symbols[k], symbols[k + 1]});
      if (rank != merge_rank_.end() && rank->second < best) {
        best = rank->second;
        at = k;
      }
    }
    if (best == INT_MAX) break;
    std::string left = symbols[at], right = symbols[at + 1];
    std::vector<std::string> merged;
    for (size_t k = 0; k < symbols.size(); ++k) {
      if (k + 1 < symbols.size() && symbols[k] == left && symbols[k + 1] == right) {
        merged.push_back(left + right);
        ++k;
      } else {
        merged.push_back(symbols[k]);
      }
    }
    symbols = std::move(merged);
  }
  for (const std::string& symbol : symbols) {
    auto it = vocab_.find(symbol);
    if (it != vocab_.end()) out.push_back(it->second);
  }
}

std::vector<int64_t> BpeTokenizer::Encode(std::string_view text) const {
  std::vector<int64_t> ids;
  size_t start = 0;
  auto flush = [&](size_t end) {
    for (const std::string& piece : PreTokenize(Normalize(text.substr(start, end - start))))
      EncodePiece(piece, ids);
  };
  for (size_t i = 0; i < text.size();) {
    const std::pair<std::string, int64_t>* special = nullptr;
    for (const auto& added : added_)
      if (text.substr(i, added.first.size()) == added.first) {
        special = &added;
        break;
      }
    if (!special) {
      ++i;
      continue;
    }
    flush(i);
    ids.push_back(special->second);
    i += special->first.size();
    start = i;
  }
  flush(text.size());
  return ids;
}

std::string BpeTokenizer::Decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    const std::string& token = tokens_[static_cast<size_t>(id)];
    bool added =
        std::any_of(added_.begin(), added_.end(), [&](const auto& a) { return a.second == id; });
    if (added) {
      out += token;
      continue;
    }
    for (const Char& ch : DecodeUtf8(token)) {
      std::string one;
      AppendUtf8(one, ch.cp);
      auto byte = ByteDecoder().find(one);
      if (byte != ByteDecoder().end()) out += static_cast<char>(byte->second);
    }
  }
  // A byte-level token can hold part of a character, so the bytes of a cut
  // answer or of one token need not be UTF-8. Like Hugging Face's decode
  // (errors="replace"), each ill-formed sequence becomes U+FFFD: the text
  // goes into protobuf strings and JSON reports, which must be UTF-8.
  std::string valid;
  icu::UnicodeString::fromUTF8(out).toUTF8String(valid);
  return valid;
}

}  // namespace gauntlet::eval
