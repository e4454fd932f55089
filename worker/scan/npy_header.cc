#include "worker/scan/npy_header.h"

#include <cctype>

#include "absl/status/status.h"
#include "common/strings.h"

namespace gauntlet::scan {
namespace {

// A Python literal as ast.literal_eval builds it, reduced to what a dtype
// description can hold: strings, integers, tuples, lists and dicts.
struct Literal {
  enum class Kind { kStr, kInt, kTuple, kList, kDict, kOther };
  Kind kind = Kind::kOther;
  std::string text;            // kStr: the value; kInt: the digits.
  std::vector<Literal> items;  // kTuple, kList; kDict: key, value, key, value...
};

class LiteralParser {
 public:
  explicit LiteralParser(std::string_view text) : text_(text) {}

  absl::StatusOr<Literal> ParseAll() {
    auto value = Parse(0);
    if (!value.ok()) return value;
    SkipSpace();
    if (pos_ != text_.size()) return Error("text after the header dict");
    return value;
  }

 private:
  static constexpr int kMaxDepth = 64;

  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(
        StrCat(".npy header is not a Python literal: ", what, " at offset ", pos_));
  }
  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  absl::StatusOr<Literal> Parse(int depth) {
    if (depth > kMaxDepth) return Error("nesting too deep");
    SkipSpace();
    if (pos_ >= text_.size()) return Error("unexpected end");
    char c = text_[pos_];
    if (c == '\'' || c == '"') return ParseString();
    if (c == '(') return ParseSequence(Literal::Kind::kTuple, ')', depth);
    if (c == '[') return ParseSequence(Literal::Kind::kList, ']', depth);
    if (c == '{') return ParseSequence(Literal::Kind::kDict, '}', depth);
    size_t start = pos_;
    while (pos_ < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_' ||
            text_[pos_] == '-' || text_[pos_] == '+' || text_[pos_] == '.')) {
      ++pos_;
    }
    if (pos_ == start) return Error(StrCat("unexpected character '", std::string(1, c), "'"));
    Literal out;
    out.text = std::string(text_.substr(start, pos_ - start));
    bool digits = out.text.find_first_not_of("0123456789") == std::string::npos;
    out.kind = digits ? Literal::Kind::kInt : Literal::Kind::kOther;
    if (!digits && out.text != "True" && out.text != "False" && out.text != "None" &&
        out.text.back() != 'L' && !std::isdigit(static_cast<unsigned char>(out.text[0])) &&
        out.text[0] != '-' && out.text[0] != '+') {
      return Error(StrCat("'", out.text, "' is a name, not a literal"));
    }
    return out;
  }
  absl::StatusOr<Literal> ParseString() {
    char quote = text_[pos_++];
    Literal out;
    out.kind = Literal::Kind::kStr;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      char c = text_[pos_++];
      if (c == '\\' && pos_ < text_.size()) c = text_[pos_++];
      out.text.push_back(c);
    }
    if (pos_ >= text_.size()) return Error("unterminated string");
    ++pos_;
    return out;
  }
  absl::StatusOr<Literal> ParseSequence(Literal::Kind kind, char close, int depth) {
    ++pos_;
    Literal out;
    out.kind = kind;
    bool saw_comma = false;
    while (true) {
      SkipSpace();
      if (pos_ < text_.size() && text_[pos_] == close) {
        ++pos_;
        break;
      }
      auto item = Parse(depth + 1);
      if (!item.ok()) return item;
      out.items.push_back(std::move(*item));
      SkipSpace();
      if (kind == Literal::Kind::kDict) {
        if (pos_ >= text_.size() || text_[pos_] != ':') return Error("dict key without ':'");
        ++pos_;
        auto value = Parse(depth + 1);
        if (!value.ok()) return value;
        out.items.push_back(std::move(*value));
        SkipSpace();
      }
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        saw_comma = true;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == close) {
        ++pos_;
        break;
      }
      return Error("expected ',' or a closing bracket");
    }
    // "(x)" is x in Python, not a tuple.
    if (kind == Literal::Kind::kTuple && out.items.size() == 1 && !saw_comma) {
      Literal inner = std::move(out.items[0]);
      return inner;
    }
    return out;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// descr_to_dtype: a type string, a (descr, shape) subarray, or a list of
// (name, descr[, shape]) fields.
bool DescrHoldsObjects(const Literal& descr, int depth) {
  if (depth > 64) return true;  // Deeper than any real dtype: assume the worst.
  switch (descr.kind) {
    case Literal::Kind::kStr:
      return TypeStringHoldsObjects(descr.text);
    case Literal::Kind::kTuple:
      return !descr.items.empty() && DescrHoldsObjects(descr.items[0], depth + 1);
    case Literal::Kind::kList:
      for (const Literal& field : descr.items) {
        if (field.kind == Literal::Kind::kTuple && field.items.size() >= 2 &&
            DescrHoldsObjects(field.items[1], depth + 1)) {
          return true;
        }
      }
      return false;
    default:
      return false;
  }
}

const Literal* DictValue(const Literal& dict, std::string_view key) {
  for (size_t i = 0; i + 1 < dict.items.size(); i += 2) {
    if (dict.items[i].kind == Literal::Kind::kStr && dict.items[i].text == key) {
      return &dict.items[i + 1];
    }
  }
  return nullptr;
}

std::string Show(const Literal& v) {
  switch (v.kind) {
    case Literal::Kind::kStr:
      return StrCat("'", v.text, "'");
    case Literal::Kind::kInt:
    case Literal::Kind::kOther:
      return v.text;
    default: {
      std::string out = v.kind == Literal::Kind::kList ? "[" : "(";
      for (size_t i = 0; i < v.items.size(); ++i) out += StrCat(i ? ", " : "", Show(v.items[i]));
      return out + (v.kind == Literal::Kind::kList ? "]" : ")");
    }
  }
}

}  // namespace

std::optional<uint64_t> TypeStringItemSize(std::string_view code, bool* is_object) {
  while (!code.empty() && (code[0] == '<' || code[0] == '>' || code[0] == '|' || code[0] == '=')) {
    code.remove_prefix(1);
  }
  if (code.empty()) return std::nullopt;
  char kind = code[0];
  uint64_t n = 0;
  if (code.size() > 1) {
    auto parsed = ParseInt<uint64_t>(code.substr(1));
    if (!parsed) return std::nullopt;
    n = *parsed;
  }
  *is_object = kind == 'O';
  if (kind == 'O') return 8;
  if (kind == 'U') return n * 4;
  if (kind == '?' || (kind == 'b' && n == 0)) return 1;
  return n == 0 ? std::nullopt : std::optional<uint64_t>(n);
}

bool TypeStringHoldsObjects(std::string_view type) {
  // Comma-separated fields ("i4,O"); commas inside a shape "(2,3)O" do not split.
  std::vector<std::string_view> parts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= type.size(); ++i) {
    if (i < type.size() && type[i] == '(') ++depth;
    if (i < type.size() && type[i] == ')') --depth;
    if (i == type.size() || (type[i] == ',' && depth == 0)) {
      parts.push_back(type.substr(start, i - start));
      start = i + 1;
    }
  }
  for (std::string_view part : parts) {
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    // A repeat count or shape prefix: "3O", "(2,3)O".
    if (!part.empty() && part.front() == '(') {
      size_t close = part.find(')');
      part.remove_prefix(close == std::string_view::npos ? part.size() : close + 1);
    }
    while (!part.empty() && std::isdigit(static_cast<unsigned char>(part.front()))) {
      part.remove_prefix(1);
    }
    if (!part.empty() && std::string_view("<>|=").find(part.front()) != std::string_view::npos) {
      part.remove_prefix(1);
    }
    if (part == "O" || part == "O4" || part == "O8" || part == "object" || part == "object_" ||
        part == "object0") {
      return true;
    }
  }
  return false;
}

absl::StatusOr<NpyHeader> ParseNpyHeader(std::string_view text) {
  auto parsed = LiteralParser(text).ParseAll();
  if (!parsed.ok()) return parsed.status();
  if (parsed->kind != Literal::Kind::kDict) {
    return absl::InvalidArgumentError(".npy header is not a dict");
  }
  const Literal* descr = DictValue(*parsed, "descr");
  const Literal* shape = DictValue(*parsed, "shape");
  if (!descr) return absl::InvalidArgumentError(".npy header has no 'descr'");
  if (!shape || (shape->kind != Literal::Kind::kTuple && shape->kind != Literal::Kind::kInt)) {
    return absl::InvalidArgumentError(".npy header has no 'shape' tuple");
  }
  NpyHeader header;
  header.has_objects = DescrHoldsObjects(*descr, 0);
  header.descr = Show(*descr);
  if (descr->kind == Literal::Kind::kStr && !header.has_objects &&
      descr->text.find(',') == std::string::npos) {
    bool is_object = false;
    header.item_size = TypeStringItemSize(descr->text, &is_object);
  }
  uint64_t elements = 1;
  std::vector<Literal> dims =
      shape->kind == Literal::Kind::kTuple ? shape->items : std::vector<Literal>{*shape};
  for (const Literal& dim : dims) {
    auto n = dim.kind == Literal::Kind::kInt ? ParseInt<uint64_t>(dim.text) : std::nullopt;
    if (!n) return absl::InvalidArgumentError(".npy shape is not a tuple of sizes");
    if (*n && elements > UINT64_MAX / *n) {
      return absl::InvalidArgumentError(".npy shape overflows");
    }
    elements *= *n;
  }
  header.elements = elements;
  return header;
}

}  // namespace gauntlet::scan
