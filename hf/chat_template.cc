#include "hf/chat_template.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "common/strings.h"

namespace gauntlet::eval {
namespace {

using Json = nlohmann::ordered_json;

constexpr size_t kMaxOutputBytes = 1 << 20;
constexpr int64_t kMaxIterations = 100000;
// Deeper nesting (of expressions or of blocks) is refused: the parser and
// the interpreter recurse, and a hostile template must not exhaust the stack.
constexpr int kMaxNesting = 100;

// Errors travel as exceptions inside the interpreter (a recursive walk) and
// become a Status at Parse and Render.
struct TemplateError {
  absl::StatusCode code;
  std::string message;
};
[[noreturn]] void Fail(std::string message,
                       absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  throw TemplateError{code, std::move(message)};
}

// Integer + - * as Python computes them, refused where the result leaves
// 64 bits (Python's integers do not overflow; ours must not wrap silently).
int64_t CheckedInteger(int64_t p, char op, int64_t q) {
  int64_t result = 0;
  const bool overflow = op == '+'   ? __builtin_add_overflow(p, q, &result)
                        : op == '-' ? __builtin_sub_overflow(p, q, &result)
                                    : __builtin_mul_overflow(p, q, &result);
  if (overflow) Fail(std::string("integer overflow in ") + op);
  return result;
}

// ------------------------------------------------------------------ values

struct Value {
  enum class Kind { kUndefined, kData, kNamespace, kFunction, kMethod };
  Kind kind = Kind::kUndefined;
  Json data;                    // kData; the receiver of a kMethod.
  std::shared_ptr<Json> space;  // kNamespace: mutable by `set ns.x = ...`.
  std::string name;             // kFunction, kMethod.
  std::string undefined_name;   // kUndefined: what was looked up, for messages.

  static Value Of(Json json) {
    Value value;
    value.kind = Kind::kData;
    value.data = std::move(json);
    return value;
  }
  static Value Undefined(std::string what) {
    Value value;
    value.undefined_name = std::move(what);
    return value;
  }
  static Value Function(std::string name) {
    Value value;
    value.kind = Kind::kFunction;
    value.name = std::move(name);
    return value;
  }
  bool undefined() const { return kind == Kind::kUndefined; }
  // Namespaces read like the objects they hold.
  const Json& json() const {
    static const Json kNull;
    if (kind == Kind::kData) return data;
    if (kind == Kind::kNamespace) return *space;
    return kNull;
  }
};

std::string TypeName(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
      return "undefined";
    case Value::Kind::kNamespace:
      return "namespace";
    case Value::Kind::kFunction:
    case Value::Kind::kMethod:
      return "function";
    case Value::Kind::kData:
      break;
  }
  const Json& j = v.data;
  if (j.is_null()) return "none";
  if (j.is_boolean()) return "bool";
  if (j.is_number_integer()) return "int";
  if (j.is_number()) return "float";
  if (j.is_string()) return "string";
  if (j.is_array()) return "list";
  return "dict";
}

bool Truthy(const Value& v) {
  if (v.kind == Value::Kind::kUndefined) return false;
  if (v.kind != Value::Kind::kData) return true;
  const Json& j = v.data;
  if (j.is_null()) return false;
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<int64_t>() != 0;
  if (j.is_number()) return j.get<double>() != 0;
  if (j.is_string()) return !j.get_ref<const std::string&>().empty();
  return !j.empty();
}

// A string's characters, as Python counts them: UTF-8 code points (a stray
// byte counts as one).
std::vector<std::string> Characters(const std::string& text) {
  std::vector<std::string> chars;
  for (size_t i = 0; i < text.size();) {
    size_t n = 1;
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead >= 0xF0)
      n = 4;
    else if (lead >= 0xE0)
      n = 3;
    else if (lead >= 0xC0)
      n = 2;
    n = std::min(n, text.size() - i);
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) n = k;
    chars.push_back(text.substr(i, n));
    i += n;
  }
  return chars;
}

Json CharacterList(const std::string& text) {
  Json list = Json::array();
  for (std::string& c : Characters(text)) list.push_back(std::move(c));
  return list;
}

std::string Joined(const Json& chars) {
  std::string out;
  for (const Json& c : chars) out += c.get_ref<const std::string&>();
  return out;
}

// Python's repr of a float: the shortest text that reads back, with ".0"
// when it is integral.
std::string FloatText(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  std::string text(buffer, end);
  if (text.find_first_of(".en") == std::string::npos) text += ".0";
  return text;
}

std::string PythonRepr(const Json& j);

std::string QuotedRepr(const std::string& s) {
  const char quote =
      s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
  std::string out(1, quote);
  for (char c : s) {
    if (c == quote || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out + quote;
}

std::string PythonRepr(const Json& j) {
  if (j.is_null()) return "None";
  if (j.is_boolean()) return j.get<bool>() ? "True" : "False";
  if (j.is_number_integer()) return std::to_string(j.get<int64_t>());
  if (j.is_number()) return FloatText(j.get<double>());
  if (j.is_string()) return QuotedRepr(j.get<std::string>());
  std::string out = j.is_array() ? "[" : "{";
  bool first = true;
  if (j.is_array()) {
    for (const Json& item : j) {
      out += first ? "" : ", ";
      out += PythonRepr(item);
      first = false;
    }
    return out + "]";
  }
  for (const auto& [key, item] : j.items()) {
    out += first ? "" : ", ";
    out += QuotedRepr(key) + ": " + PythonRepr(item);
    first = false;
  }
  return out + "}";
}

// str(value), as {{ value }} prints it.
std::string Text(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kUndefined:
      return "";
    case Value::Kind::kNamespace:
      return "<Namespace>";
    case Value::Kind::kFunction:
    case Value::Kind::kMethod:
      return "<function " + v.name + ">";
    case Value::Kind::kData:
      break;
  }
  if (v.data.is_string()) return v.data.get<std::string>();
  return PythonRepr(v.data);
}

// Python's json.dumps(x, ensure_ascii=False, indent=indent), which is what
// transformers' `tojson` filter calls.
void DumpJson(const Json& j, std::optional<int> indent, int depth, std::string& out) {
  auto newline = [&](int level) {
    if (!indent) return;
    out += '\n';
    out.append(static_cast<size_t>(*indent * level), ' ');
  };
  if (j.is_string()) {
    out += '"';
    for (unsigned char c : j.get_ref<const std::string&>()) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20) {
            char escape[8];
            std::snprintf(escape, sizeof escape, "\\u%04x", c);
            out += escape;
          } else {
            out += static_cast<char>(c);
          }
      }
    }
    out += '"';
  } else if (j.is_array() || j.is_object()) {
    const bool array = j.is_array();
    out += array ? '[' : '{';
    if (j.empty()) {
      out += array ? ']' : '}';
      return;
    }
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!first) out += indent ? "," : ", ";
      first = false;
      newline(depth + 1);
      if (!array) {
        DumpJson(Json(it.key()), std::nullopt, 0, out);
        out += ": ";
      }
      DumpJson(*it, indent, depth + 1, out);
    }
    newline(depth);
    out += array ? ']' : '}';
  } else if (j.is_null()) {
    out += "null";
  } else if (j.is_boolean()) {
    out += j.get<bool>() ? "true" : "false";
  } else if (j.is_number_integer()) {
    out += std::to_string(j.get<int64_t>());
  } else {
    out += FloatText(j.get<double>());
  }
}

bool IsNumber(const Value& v) { return v.kind == Value::Kind::kData && v.data.is_number(); }

bool Equal(const Value& a, const Value& b) {
  if (a.undefined() || b.undefined()) return a.undefined() && b.undefined();
  if (IsNumber(a) && IsNumber(b)) {
    if (a.data.is_number_integer() && b.data.is_number_integer())
      return a.data.get<int64_t>() == b.data.get<int64_t>();
    return a.data.get<double>() == b.data.get<double>();
  }
  // Python: True == 1; JSON keeps them apart, so compare as numbers.
  if (a.kind == Value::Kind::kData && b.kind == Value::Kind::kData && a.data.is_boolean() &&
      b.data.is_number())
    return (a.data.get<bool>() ? 1.0 : 0.0) == b.data.get<double>();
  if (a.kind == Value::Kind::kData && b.kind == Value::Kind::kData && a.data.is_number() &&
      b.data.is_boolean())
    return Equal(b, a);
  return a.json() == b.json();
}

int Compare(const Value& a, const Value& b, std::string_view op) {
  if (IsNumber(a) && IsNumber(b)) {
    double x = a.data.get<double>(), y = b.data.get<double>();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.kind == Value::Kind::kData && b.kind == Value::Kind::kData && a.data.is_string() &&
      b.data.is_string())
    return a.data.get_ref<const std::string&>().compare(b.data.get_ref<const std::string&>());
  Fail(StrCat("'", op, "' not supported between ", TypeName(a), " and ", TypeName(b)));
}

bool Contains(const Value& haystack, const Value& needle) {
  const Json& h = haystack.json();
  if (h.is_string()) {
    if (!needle.json().is_string())
      Fail("'in <string>' requires a string on the left, not " + TypeName(needle));
    return h.get_ref<const std::string&>().find(needle.json().get_ref<const std::string&>()) !=
           std::string::npos;
  }
  if (h.is_array()) {
    for (const Json& item : h)
      if (Equal(Value::Of(item), needle)) return true;
    return false;
  }
  if (h.is_object())
    return needle.json().is_string() && h.contains(needle.json().get<std::string>());
  if (haystack.undefined()) Fail("'in' of an undefined value");
  Fail("'in' needs a string, list or dict, not " + TypeName(haystack));
}

// What the interpreter implements, checked when a template is parsed (as
// Jinja2 checks filter and test names at compile time).
bool KnownFilter(std::string_view name) {
  static constexpr std::string_view kFilters[] = {
      "default", "d",     "trim",    "upper",  "lower",      "title",     "capitalize",
      "string",  "safe",  "e",       "escape", "length",     "count",     "first",
      "last",    "join",  "replace", "int",    "float",      "abs",       "tojson",
      "list",    "items", "reverse", "map",    "selectattr", "rejectattr"};
  return std::find(std::begin(kFilters), std::end(kFilters), name) != std::end(kFilters);
}

bool KnownTest(std::string_view name) {
  static constexpr std::string_view kTests[] = {
      "defined", "undefined", "none",    "string",  "number",   "integer",  "float",
      "boolean", "true",      "false",   "mapping", "sequence", "iterable", "callable",
      "odd",     "even",      "equalto", "eq",      "sameas",   "ne",       "in"};
  return std::find(std::begin(kTests), std::end(kTests), name) != std::end(kTests);
}

// ------------------------------------------------------------------ lexer

struct Token {
  enum Kind { kName, kString, kInt, kFloat, kOp, kEnd } kind = kEnd;
  std::string text;
};

// The tokens of one tag's inside.
std::vector<Token> Tokenize(std::string_view s, int line) {
  std::vector<Token> tokens;
  size_t i = 0;
  auto error = [&](const std::string& what) { Fail(StrCat("line ", line, ": ", what)); };
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t start = i;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
      tokens.push_back({Token::kName, std::string(s.substr(start, i - start))});
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t start = i;
      bool real = false;
      while (i < s.size() &&
             (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' || s[i] == '_')) {
        if (s[i] == '.') {
          if (real || i + 1 >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i + 1])))
            break;
          real = true;
        }
        ++i;
      }
      std::string number(s.substr(start, i - start));
      std::erase(number, '_');
      tokens.push_back({real ? Token::kFloat : Token::kInt, number});
    } else if (c == '\'' || c == '"') {
      std::string text;
      ++i;
      while (i < s.size() && s[i] != c) {
        if (s[i] == '\\' && i + 1 < s.size()) {
          char e = s[++i];
          switch (e) {
            case 'n':
              text += '\n';
              break;
            case 't':
              text += '\t';
              break;
            case 'r':
              text += '\r';
              break;
            default:
              text += e;
          }
          ++i;
        } else {
          text += s[i++];
        }
      }
      if (i >= s.size()) error("a string is not closed");
      ++i;
      tokens.push_back({Token::kString, std::move(text)});
    } else {
      static const char* kOps[] = {"==", "!=", "<=", ">=", "//", "**", "<", ">", "+",
                                   "-",  "*",  "/",  "%",  "~",  "|",  ".", ",", ":",
                                   "(",  ")",  "[",  "]",  "{",  "}",  "="};
      bool matched = false;
      for (const char* op : kOps) {
        std::string_view o(op);
        if (s.substr(i, o.size()) == o) {
          tokens.push_back({Token::kOp, std::string(o)});
          i += o.size();
          matched = true;
          break;
        }
      }
      if (!matched) error(StrCat("unexpected character '", std::string(1, c), "'"));
    }
  }
  tokens.push_back({Token::kEnd, ""});
  return tokens;
}

// The template cut into text, {{ output }} and {% statement %} pieces, with
// whitespace control applied: `-` strips whitespace beside a tag, and as in
// apply_chat_template, trim_blocks drops the newline after a block tag and
// lstrip_blocks the indentation before one (`+` turns either off).
struct Piece {
  enum Kind { kText, kOutput, kStatement } kind;
  std::string text;
  int line;
};

std::vector<Piece> Split(const std::string& source) {
  std::vector<Piece> pieces;
  size_t i = 0;
  int line = 1;
  bool strip_next = false, trim_newline = false;  // Set by the tag before the text.
  while (true) {
    // The next tag: "{{", "{%" or "{#".
    size_t open = i;
    while ((open = source.find('{', open)) != std::string::npos &&
           (open + 1 >= source.size() ||
            (source[open + 1] != '{' && source[open + 1] != '%' && source[open + 1] != '#')))
      ++open;
    const std::string raw =
        source.substr(i, open == std::string::npos ? std::string::npos : open - i);
    std::string text = raw;
    const int text_line = line;
    line += static_cast<int>(std::count(raw.begin(), raw.end(), '\n'));
    auto trim_front = [&] {
      if (strip_next) {
        size_t keep = text.find_first_not_of(" \t\r\n");
        text = keep == std::string::npos ? "" : text.substr(keep);
      } else if (trim_newline) {
        if (text.starts_with("\r\n"))
          text.erase(0, 2);
        else if (text.starts_with("\n"))
          text.erase(0, 1);
      }
    };
    if (open == std::string::npos) {
      trim_front();
      if (!text.empty()) pieces.push_back({Piece::kText, text, text_line});
      break;
    }
    const char kind = source[open + 1];
    const std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    size_t inner = open + 2;
    const bool left_minus = inner < source.size() && source[inner] == '-';
    const bool left_plus = inner < source.size() && source[inner] == '+';
    if (left_minus || left_plus) ++inner;
    // The closing marker, outside quoted strings and brackets (a dict
    // literal's "}}" does not close a tag).
    size_t end = inner;
    char quote = 0;
    int depth = 0;
    for (; end + 1 < source.size(); ++end) {
      const char c = source[end];
      if (kind != '#' && quote) {
        if (c == '\\')
          ++end;
        else if (c == quote)
          quote = 0;
      } else if (kind != '#' && (c == '\'' || c == '"')) {
        quote = c;
      } else if (depth == 0 && source.compare(end, 2, close) == 0) {
        break;
      } else if (kind != '#' && (c == '{' || c == '[' || c == '(')) {
        ++depth;
      } else if (kind != '#' && (c == '}' || c == ']' || c == ')') && depth > 0) {
        --depth;
      }
    }
    if (end + 1 >= source.size()) Fail(StrCat("line ", line, ": a tag is not closed"));
    const bool right_minus = end > inner && source[end - 1] == '-';
    const bool right_plus = end > inner && source[end - 1] == '+';
    const std::string body =
        source.substr(inner, end - inner - (right_minus || right_plus ? 1 : 0));
    if (left_minus) {
      size_t keep = text.find_last_not_of(" \t\r\n");
      text = keep == std::string::npos ? "" : text.substr(0, keep + 1);
    } else if (kind != '{' && !left_plus) {
      // lstrip_blocks: the indentation before a block tag at the start of a line.
      size_t line_start = raw.find_last_of('\n');
      if (line_start != std::string::npos || i == 0) {
        size_t from = line_start == std::string::npos ? 0 : line_start + 1;
        size_t kept = text.size() - (raw.size() - from);
        if (raw.find_first_not_of(" \t", from) == std::string::npos && kept <= text.size())
          text.erase(kept);
      }
    }
    trim_front();
    if (!text.empty()) pieces.push_back({Piece::kText, text, text_line});
    if (kind == '{') pieces.push_back({Piece::kOutput, body, line});
    if (kind == '%') pieces.push_back({Piece::kStatement, body, line});
    line += static_cast<int>(std::count(source.begin() + static_cast<std::ptrdiff_t>(open),
                                        source.begin() + static_cast<std::ptrdiff_t>(end), '\n'));
    strip_next = right_minus;
    trim_newline = !right_minus && !right_plus && kind != '{';
    i = end + 2;
  }
  return pieces;
}

}  // namespace

// ------------------------------------------------------------------ syntax tree

struct Expr {
  enum Kind {
    kLiteral,
    kList,
    kDict,
    kName,
    kAttr,
    kItem,
    kSlice,
    kCall,
    kFilter,
    kTest,
    kNeg,
    kNot,
    kBinary,
    kAnd,
    kOr,
    kIf
  } kind;
  Json literal;
  std::string name;                         // Name, attribute, filter, test or operator.
  std::vector<std::unique_ptr<Expr>> args;  // Operands and positional arguments.
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;
  bool negated = false;  // `is not`, `not in`.
};

struct ChatTemplate::Node {
  enum Kind { kBlock, kText, kOutput, kIf, kFor, kSet, kBreak, kContinue } kind = kBlock;
  std::string text;                  // Text.
  std::unique_ptr<Expr> expr;        // Output, For (iterable), Set (value).
  std::vector<std::string> targets;  // For loop variables; Set: name, or namespace and attr.
  std::unique_ptr<Expr> filter;      // For ... if filter.
  std::vector<std::unique_ptr<Expr>> conditions;  // If: one per branch but a final else.
  std::vector<Node> children;  // Block: its nodes; If: branch blocks; For: body, else.
};

namespace {

using Node = ChatTemplate::Node;

class ExprParser {
 public:
  ExprParser(std::vector<Token> tokens, int line) : tokens_(std::move(tokens)), line_(line) {}

  std::unique_ptr<Expr> Parse() { return ParseConditional(); }

  // Counts one level of nesting while alive.
  struct Nested {
    explicit Nested(int& depth, int line) : depth_(depth) {
      if (++depth_ > kMaxNesting)
        Fail(StrCat("line ", line, ": nested more than ", kMaxNesting, " levels deep"));
    }
    ~Nested() { --depth_; }
    int& depth_;
  };
  bool AtEnd() const { return Peek().kind == Token::kEnd; }
  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  Token Take() { return tokens_[std::min(pos_++, tokens_.size() - 1)]; }
  bool TakeOp(std::string_view op) {
    if (Peek().kind == Token::kOp && Peek().text == op) return ++pos_, true;
    return false;
  }
  bool TakeName(std::string_view name) {
    if (Peek().kind == Token::kName && Peek().text == name) return ++pos_, true;
    return false;
  }
  void ExpectOp(std::string_view op) {
    if (!TakeOp(op)) Error(StrCat("expected '", op, "'"));
  }
  std::string ExpectName() {
    if (Peek().kind != Token::kName) Error("expected a name");
    return Take().text;
  }
  [[noreturn]] void Error(const std::string& what) const {
    Fail(StrCat("line ", line_, ": ", what,
                Peek().kind == Token::kEnd ? " at the end of the tag"
                                           : StrCat(" before '", Peek().text, "'")));
  }

 private:
  static std::unique_ptr<Expr> Make(Expr::Kind kind, std::string name = "") {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->name = std::move(name);
    return e;
  }
  static std::unique_ptr<Expr> Binary(Expr::Kind kind, std::string op, std::unique_ptr<Expr> a,
                                      std::unique_ptr<Expr> b) {
    auto e = Make(kind, std::move(op));
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }

  std::unique_ptr<Expr> ParseConditional() {
    Nested nested(depth_, line_);
    auto value = ParseOr();
    if (!TakeName("if")) return value;
    auto e = Make(Expr::kIf);
    e->args.push_back(std::move(value));
    e->args.push_back(ParseOr());
    e->args.push_back(TakeName("else") ? ParseConditional() : nullptr);
    return e;
  }
  std::unique_ptr<Expr> ParseOr() {
    auto left = ParseAnd();
    while (TakeName("or")) left = Binary(Expr::kOr, "or", std::move(left), ParseAnd());
    return left;
  }
  std::unique_ptr<Expr> ParseAnd() {
    auto left = ParseNot();
    while (TakeName("and")) left = Binary(Expr::kAnd, "and", std::move(left), ParseNot());
    return left;
  }
  std::unique_ptr<Expr> ParseNot() {
    Nested nested(depth_, line_);
    if (TakeName("not")) {
      auto e = Make(Expr::kNot);
      e->args.push_back(ParseNot());
      return e;
    }
    return ParseCompare();
  }
  std::unique_ptr<Expr> ParseCompare() {
    auto left = ParseMath1();
    while (true) {
      const Token& t = Peek();
      if (t.kind == Token::kOp && (t.text == "==" || t.text == "!=" || t.text == "<" ||
                                   t.text == "<=" || t.text == ">" || t.text == ">=")) {
        std::string op = Take().text;
        left = Binary(Expr::kBinary, op, std::move(left), ParseMath1());
      } else if (TakeName("in")) {
        left = Binary(Expr::kBinary, "in", std::move(left), ParseMath1());
      } else if (t.kind == Token::kName && t.text == "not" && Peek(1).kind == Token::kName &&
                 Peek(1).text == "in") {
        pos_ += 2;
        left = Binary(Expr::kBinary, "in", std::move(left), ParseMath1());
        left->negated = true;
      } else if (TakeName("is")) {
        auto test = Make(Expr::kTest);
        test->negated = TakeName("not");
        test->name = ExpectName();
        if (!KnownTest(test->name))
          Fail(StrCat("line ", line_, ": the test '", test->name,
                      "' is not supported in chat templates here"));
        test->args.push_back(std::move(left));
        if (TakeOp("(")) {
          ParseArguments(*test);
        } else if (!AtEnd() && Peek().kind != Token::kOp && Peek().kind != Token::kName) {
          test->args.push_back(ParsePrimary());
        } else if (Peek().kind == Token::kName && Peek().text != "and" && Peek().text != "or" &&
                   Peek().text != "else" && Peek().text != "if") {
          test->args.push_back(ParseMath1());
        }
        left = std::move(test);
      } else {
        return left;
      }
    }
  }
  std::unique_ptr<Expr> ParseMath1() {
    auto left = ParseConcat();
    while (Peek().kind == Token::kOp && (Peek().text == "+" || Peek().text == "-")) {
      std::string op = Take().text;
      left = Binary(Expr::kBinary, op, std::move(left), ParseConcat());
    }
    return left;
  }
  std::unique_ptr<Expr> ParseConcat() {
    auto left = ParseMath2();
    while (TakeOp("~")) left = Binary(Expr::kBinary, "~", std::move(left), ParseMath2());
    return left;
  }
  std::unique_ptr<Expr> ParseMath2() {
    auto left = ParseUnary();
    while (Peek().kind == Token::kOp && (Peek().text == "*" || Peek().text == "/" ||
                                         Peek().text == "//" || Peek().text == "%")) {
      std::string op = Take().text;
      left = Binary(Expr::kBinary, op, std::move(left), ParseUnary());
    }
    return left;
  }
  std::unique_ptr<Expr> ParseUnary() {
    Nested nested(depth_, line_);
    if (TakeOp("-")) {
      auto e = Make(Expr::kNeg);
      e->args.push_back(ParseUnary());
      return e;
    }
    if (TakeOp("+")) return ParseUnary();
    return ParseFilters(ParsePostfix(ParsePrimary()));
  }
  std::unique_ptr<Expr> ParseFilters(std::unique_ptr<Expr> value) {
    while (TakeOp("|")) {
      auto filter = Make(Expr::kFilter, ExpectName());
      if (!KnownFilter(filter->name))
        Fail(StrCat("line ", line_, ": the filter '", filter->name,
                    "' is not supported in chat templates here"));
      filter->args.push_back(std::move(value));
      if (TakeOp("(")) ParseArguments(*filter);
      value = ParsePostfix(std::move(filter));
    }
    return value;
  }
  std::unique_ptr<Expr> ParsePostfix(std::unique_ptr<Expr> value) {
    while (true) {
      if (TakeOp(".")) {
        auto e = Make(Expr::kAttr, ExpectName());
        e->args.push_back(std::move(value));
        value = std::move(e);
      } else if (TakeOp("[")) {
        std::unique_ptr<Expr> parts[3];
        int colons = 0;
        while (!TakeOp("]")) {
          if (TakeOp(":")) {
            if (++colons > 2) Error("a slice has at most two ':'");
          } else {
            if (parts[colons]) Error("expected ':' or ']'");
            parts[colons] = ParseConditional();
          }
        }
        auto e = Make(colons ? Expr::kSlice : Expr::kItem);
        e->args.push_back(std::move(value));
        if (!colons && !parts[0]) Error("an empty subscript");
        for (int k = 0; k <= (colons ? 2 : 0); ++k) e->args.push_back(std::move(parts[k]));
        value = std::move(e);
      } else if (TakeOp("(")) {
        auto e = Make(Expr::kCall);
        e->args.push_back(std::move(value));
        ParseArguments(*e);
        value = std::move(e);
      } else {
        return value;
      }
    }
  }
  // After '(': positional then keyword arguments, up to ')'.
  void ParseArguments(Expr& call) {
    while (!TakeOp(")")) {
      if (Peek().kind == Token::kName && Peek(1).kind == Token::kOp && Peek(1).text == "=") {
        std::string key = Take().text;
        Take();
        call.kwargs.emplace_back(std::move(key), ParseConditional());
      } else {
        call.args.push_back(ParseConditional());
      }
      if (!TakeOp(",") && !(Peek().kind == Token::kOp && Peek().text == ")"))
        Error("expected ',' or ')'");
    }
  }
  std::unique_ptr<Expr> ParsePrimary() {
    Token t = Take();
    if (t.kind == Token::kString) {
      // Adjacent strings concatenate, as in Python.
      std::string text = t.text;
      while (Peek().kind == Token::kString) text += Take().text;
      auto e = Make(Expr::kLiteral);
      e->literal = text;
      return e;
    }
    if (t.kind == Token::kInt || t.kind == Token::kFloat) {
      auto e = Make(Expr::kLiteral);
      if (t.kind == Token::kInt) {
        int64_t value = 0;
        std::string digits = t.text;
        std::erase(digits, '_');
        auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (error != std::errc() || end != digits.data() + digits.size())
          Fail(StrCat("line ", line_, ": the integer ", t.text, " does not fit 64 bits"));
        e->literal = value;
      } else
        e->literal = std::stod(t.text);
      return e;
    }
    if (t.kind == Token::kName) {
      auto e = Make(Expr::kLiteral);
      if (t.text == "true" || t.text == "True") {
        e->literal = true;
      } else if (t.text == "false" || t.text == "False") {
        e->literal = false;
      } else if (t.text == "none" || t.text == "None") {
        e->literal = nullptr;
      } else {
        return Make(Expr::kName, t.text);
      }
      return e;
    }
    if (t.kind == Token::kOp && (t.text == "(" || t.text == "[")) {
      const bool paren = t.text == "(";
      auto list = Make(Expr::kList);
      bool tuple = !paren;
      while (!TakeOp(paren ? ")" : "]")) {
        list->args.push_back(ParseConditional());
        if (TakeOp(","))
          tuple = true;
        else if (!(Peek().kind == Token::kOp && Peek().text == (paren ? ")" : "]")))
          Error("expected ','");
      }
      if (paren && !tuple) {
        if (list->args.size() != 1) Error("empty parentheses");
        return std::move(list->args[0]);
      }
      return list;
    }
    if (t.kind == Token::kOp && t.text == "{") {
      auto dict = Make(Expr::kDict);
      while (!TakeOp("}")) {
        dict->args.push_back(ParseConditional());
        ExpectOp(":");
        dict->args.push_back(ParseConditional());
        if (!TakeOp(",") && !(Peek().kind == Token::kOp && Peek().text == "}"))
          Error("expected ',' or '}'");
      }
      return dict;
    }
    --pos_;
    Error("expected a value");
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int line_;
  int depth_ = 0;
};

class TemplateParser {
 public:
  explicit TemplateParser(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}

  Node ParseAll() {
    Node root = ParseBlock({});
    if (pos_ < pieces_.size())
      Fail(StrCat("line ", pieces_[pos_].line, ": unexpected '", Keyword(pieces_[pos_]), "'"));
    return root;
  }

 private:
  static std::string Keyword(const Piece& piece) {
    size_t start = piece.text.find_first_not_of(" \t\r\n");
    if (start == std::string::npos) return "";
    size_t end = start;
    while (end < piece.text.size() &&
           (std::isalnum(static_cast<unsigned char>(piece.text[end])) || piece.text[end] == '_'))
      ++end;
    return piece.text.substr(start, end - start);
  }

  // Nodes up to (not including) a statement whose keyword is in `ends`.
  Node ParseBlock(const std::vector<std::string>& ends) {
    ExprParser::Nested nested(depth_, pos_ < pieces_.size() ? pieces_[pos_].line : 0);
    Node block;
    while (pos_ < pieces_.size()) {
      const Piece& piece = pieces_[pos_];
      if (piece.kind == Piece::kText) {
        Node text;
        text.kind = Node::kText;
        text.text = piece.text;
        block.children.push_back(std::move(text));
        ++pos_;
        continue;
      }
      ExprParser tokens(Tokenize(piece.text, piece.line), piece.line);
      if (piece.kind == Piece::kOutput) {
        Node output;
        output.kind = Node::kOutput;
        output.expr = tokens.Parse();
        if (!tokens.AtEnd()) tokens.Error("unexpected text in {{ }}");
        block.children.push_back(std::move(output));
        ++pos_;
        continue;
      }
      const std::string keyword = tokens.ExpectName();
      if (std::find(ends.begin(), ends.end(), keyword) != ends.end()) return block;
      ++pos_;
      if (keyword == "if") {
        block.children.push_back(ParseIf(tokens));
      } else if (keyword == "for") {
        block.children.push_back(ParseFor(tokens));
      } else if (keyword == "set") {
        block.children.push_back(ParseSet(tokens));
      } else if (keyword == "break" || keyword == "continue") {
        Node control;
        control.kind = keyword == "break" ? Node::kBreak : Node::kContinue;
        block.children.push_back(std::move(control));
      } else if (keyword == "generation") {
        // transformers' AssistantTracker marks assistant text; rendering is unchanged.
        Node body = ParseBlock({"endgeneration"});
        Expect("endgeneration");
        for (Node& child : body.children) block.children.push_back(std::move(child));
      } else if (keyword == "endif" || keyword == "endfor" || keyword == "elif" ||
                 keyword == "else" || keyword == "endgeneration") {
        Fail(StrCat("line ", piece.line, ": unexpected '", keyword, "'"));
      } else {
        Fail(StrCat("line ", piece.line, ": the Jinja tag '", keyword,
                    "' is not supported in chat templates here"));
      }
      if (!tokens.AtEnd() && keyword != "if" && keyword != "for" && keyword != "set")
        tokens.Error("unexpected text after the tag");
    }
    if (!ends.empty()) Fail(StrCat("the template ends before its '", ends.back(), "'"));
    return block;
  }

  // The statement at pos_ must be `keyword`; consumes it.
  ExprParser Expect(std::string_view keyword) {
    if (pos_ >= pieces_.size()) Fail(StrCat("the template ends before its '", keyword, "'"));
    const Piece& piece = pieces_[pos_++];
    ExprParser tokens(Tokenize(piece.text, piece.line), piece.line);
    if (tokens.ExpectName() != keyword) tokens.Error(StrCat("expected '", keyword, "'"));
    return tokens;
  }

  Node ParseIf(ExprParser& tokens) {
    Node node;
    node.kind = Node::kIf;
    node.conditions.push_back(tokens.Parse());
    if (!tokens.AtEnd()) tokens.Error("unexpected text after the condition");
    while (true) {
      node.children.push_back(ParseBlock({"elif", "else", "endif"}));
      if (pos_ >= pieces_.size()) Fail("the template ends before its 'endif'");
      const Piece& piece = pieces_[pos_++];
      ExprParser next(Tokenize(piece.text, piece.line), piece.line);
      std::string keyword = next.ExpectName();
      if (keyword == "elif") {
        node.conditions.push_back(next.Parse());
        continue;
      }
      if (keyword == "else") {
        node.children.push_back(ParseBlock({"endif"}));
        Expect("endif");
      }
      return node;
    }
  }

  Node ParseFor(ExprParser& tokens) {
    Node node;
    node.kind = Node::kFor;
    do {
      node.targets.push_back(tokens.ExpectName());
    } while (tokens.TakeOp(","));
    if (!tokens.TakeName("in")) tokens.Error("expected 'in'");
    node.expr = tokens.Parse();  // A trailing `if` parses as a conditional; split it.
    if (node.expr->kind == Expr::kIf && !node.expr->args[2]) {
      node.filter = std::move(node.expr->args[1]);
      node.expr = std::move(node.expr->args[0]);
    }
    if (!tokens.AtEnd()) tokens.Error("unexpected text in 'for'");
    node.children.push_back(ParseBlock({"else", "endfor"}));
    const Piece& piece = pieces_.at(pos_++);
    ExprParser next(Tokenize(piece.text, piece.line), piece.line);
    if (next.ExpectName() == "else") {
      node.children.push_back(ParseBlock({"endfor"}));
      Expect("endfor");
    }
    return node;
  }

  Node ParseSet(ExprParser& tokens) {
    Node node;
    node.kind = Node::kSet;
    node.targets.push_back(tokens.ExpectName());
    if (tokens.TakeOp(".")) node.targets.push_back(tokens.ExpectName());
    if (!tokens.TakeOp("=")) tokens.Error("expected '=' ({% set %} blocks are not supported here)");
    node.expr = tokens.Parse();
    if (!tokens.AtEnd()) tokens.Error("unexpected text in 'set'");
    return node;
  }

  std::vector<Piece> pieces_;
  size_t pos_ = 0;
  int depth_ = 0;
};

// ------------------------------------------------------------------ interpreter

struct LoopControl {
  bool is_break;
};

class Renderer {
 public:
  explicit Renderer(const Json& context) {
    scopes_.emplace_back();
    for (const auto& [key, value] : context.items()) scopes_.back()[key] = Value::Of(value);
    for (const char* name : {"raise_exception", "namespace", "range", "strftime_now"})
      if (!scopes_.back().count(name)) scopes_.back()[name] = Value::Function(name);
  }

  std::string Run(const Node& root) {
    Execute(root);
    return std::move(out_);
  }

 private:
  void Emit(const std::string& text) {
    if (out_.size() + text.size() > kMaxOutputBytes)
      Fail(StrCat("the template's output passed ", kMaxOutputBytes, " bytes"));
    out_ += text;
  }

  Value Lookup(const std::string& name) const {
    for (auto scope = scopes_.rbegin(); scope != scopes_.rend(); ++scope) {
      auto it = scope->find(name);
      if (it != scope->end()) return it->second;
    }
    return Value::Undefined(name);
  }

  void Execute(const Node& node) {
    switch (node.kind) {
      case Node::kBlock:
        for (const Node& child : node.children) Execute(child);
        return;
      case Node::kText:
        Emit(node.text);
        return;
      case Node::kOutput:
        Emit(Text(Eval(*node.expr)));
        return;
      case Node::kIf:
        for (size_t i = 0; i < node.conditions.size(); ++i)
          if (Truthy(Eval(*node.conditions[i]))) return Execute(node.children[i]);
        if (node.children.size() > node.conditions.size()) Execute(node.children.back());
        return;
      case Node::kFor:
        return ExecuteFor(node);
      case Node::kSet: {
        Value value = Eval(*node.expr);
        if (node.targets.size() == 1) {
          scopes_.back()[node.targets[0]] = std::move(value);
          return;
        }
        Value space = Lookup(node.targets[0]);
        if (space.kind != Value::Kind::kNamespace)
          Fail(StrCat("cannot set an attribute of '", node.targets[0],
                      "', which is not a namespace"));
        (*space.space)[node.targets[1]] = value.json();
        return;
      }
      case Node::kBreak:
      case Node::kContinue:
        throw LoopControl{node.kind == Node::kBreak};
    }
  }

  void ExecuteFor(const Node& node) {
    Value iterable = Eval(*node.expr);
    std::vector<Json> items;
    const Json& j = iterable.json();
    if (j.is_array()) {
      items.assign(j.begin(), j.end());
    } else if (j.is_object()) {
      for (const auto& [key, value] : j.items()) items.push_back(key);
    } else if (j.is_string()) {
      for (std::string& c : Characters(j.get_ref<const std::string&>()))
        items.push_back(std::move(c));
    } else {
      Fail(StrCat("cannot loop over ", TypeName(iterable)));
    }
    // The `if` filter applies before loop.index and friends are counted.
    std::vector<Json> kept;
    for (Json& item : items) {
      if (node.filter) {
        scopes_.emplace_back();
        Bind(node.targets, item);
        bool keep = Truthy(Eval(*node.filter));
        scopes_.pop_back();
        if (!keep) continue;
      }
      kept.push_back(std::move(item));
    }
    if (kept.empty()) {
      if (node.children.size() > 1) Execute(node.children[1]);
      return;
    }
    const int64_t length = static_cast<int64_t>(kept.size());
    for (int64_t i = 0; i < length; ++i) {
      if (++iterations_ > kMaxIterations)
        Fail(StrCat("the template looped more than ", kMaxIterations, " times"));
      scopes_.emplace_back();
      Bind(node.targets, kept[static_cast<size_t>(i)]);
      Json loop = {{"index", i + 1},
                   {"index0", i},
                   {"revindex", length - i},
                   {"revindex0", length - i - 1},
                   {"first", i == 0},
                   {"last", i == length - 1},
                   {"length", length},
                   {"previtem", i > 0 ? kept[i - 1] : Json()},
                   {"nextitem", i + 1 < length ? kept[i + 1] : Json()}};
      scopes_.back()["loop"] = Value::Of(std::move(loop));
      bool stop = false;
      try {
        Execute(node.children[0]);
      } catch (const LoopControl& control) {
        stop = control.is_break;
      }
      scopes_.pop_back();
      if (stop) break;
    }
  }

  void Bind(const std::vector<std::string>& targets, const Json& item) {
    if (targets.size() == 1) {
      scopes_.back()[targets[0]] = Value::Of(item);
      return;
    }
    if (!item.is_array() || item.size() != targets.size())
      Fail(StrCat("cannot unpack ", PythonRepr(item), " into ", targets.size(), " names"));
    for (size_t k = 0; k < targets.size(); ++k) scopes_.back()[targets[k]] = Value::Of(item[k]);
  }

  Value Eval(const Expr& e) {
    switch (e.kind) {
      case Expr::kLiteral:
        return Value::Of(e.literal);
      case Expr::kList: {
        Json list = Json::array();
        for (const auto& item : e.args) list.push_back(Eval(*item).json());
        return Value::Of(std::move(list));
      }
      case Expr::kDict: {
        Json dict = Json::object();
        for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
          Value key = Eval(*e.args[k]);
          if (!key.json().is_string()) Fail("dict keys must be strings here");
          dict[key.json().get<std::string>()] = Eval(*e.args[k + 1]).json();
        }
        return Value::Of(std::move(dict));
      }
      case Expr::kName:
        return Lookup(e.name);
      case Expr::kAttr:
        return Attribute(Eval(*e.args[0]), e.name);
      case Expr::kItem:
        return Item(Eval(*e.args[0]), Eval(*e.args[1]));
      case Expr::kSlice:
        return Slice(Eval(*e.args[0]), e.args[1].get(), e.args[2].get(), e.args[3].get());
      case Expr::kCall:
        return Call(e);
      case Expr::kFilter:
        return Filter(e);
      case Expr::kTest:
        return Value::Of(Test(e) != e.negated);
      case Expr::kNeg: {
        Value v = Eval(*e.args[0]);
        if (!IsNumber(v)) Fail("cannot negate " + TypeName(v));
        if (!v.data.is_number_integer()) return Value::Of(-v.data.get<double>());
        return Value::Of(CheckedInteger(0, '-', v.data.get<int64_t>()));
      }
      case Expr::kNot:
        return Value::Of(!Truthy(Eval(*e.args[0])));
      case Expr::kAnd: {
        Value left = Eval(*e.args[0]);
        return Truthy(left) ? Eval(*e.args[1]) : left;
      }
      case Expr::kOr: {
        Value left = Eval(*e.args[0]);
        return Truthy(left) ? left : Eval(*e.args[1]);
      }
      case Expr::kIf:
        if (Truthy(Eval(*e.args[1]))) return Eval(*e.args[0]);
        return e.args[2] ? Eval(*e.args[2]) : Value::Undefined("else");
      case Expr::kBinary:
        return BinaryOp(e.name, Eval(*e.args[0]), Eval(*e.args[1]), e.negated);
    }
    Fail("unknown expression");
  }

  static Value Attribute(const Value& object, const std::string& name) {
    if (object.kind == Value::Kind::kData &&
        (object.data.is_string() || object.data.is_object() || object.data.is_array())) {
      if (object.data.is_object() && object.data.contains(name))
        return Value::Of(object.data.at(name));
      static const char* kMethods[] = {"strip",    "lstrip", "rstrip", "split",  "startswith",
                                       "endswith", "upper",  "lower",  "title",  "capitalize",
                                       "replace",  "items",  "keys",   "values", "get",
                                       "join",     "count",  "find"};
      for (const char* method : kMethods)
        if (name == method) {
          Value bound;
          bound.kind = Value::Kind::kMethod;
          bound.data = object.data;
          bound.name = name;
          return bound;
        }
      return Value::Undefined(name);
    }
    if (object.kind == Value::Kind::kNamespace) {
      if (object.space->contains(name)) return Value::Of(object.space->at(name));
      return Value::Undefined(name);
    }
    if (object.undefined())
      Fail(StrCat("'", object.undefined_name, "' is undefined (reading its '", name, "')"));
    return Value::Undefined(name);
  }

  static Value Item(const Value& object, const Value& key) {
    const Json& j = object.json();
    if (j.is_object()) {
      if (!key.json().is_string()) return Value::Undefined("item");
      const std::string& k = key.json().get_ref<const std::string&>();
      return j.contains(k) ? Value::Of(j.at(k)) : Value::Undefined(k);
    }
    if ((j.is_array() || j.is_string()) && key.json().is_number_integer()) {
      const Json items = j.is_array() ? j : CharacterList(j.get_ref<const std::string&>());
      const int64_t size = static_cast<int64_t>(items.size());
      int64_t index = key.json().get<int64_t>();
      if (index < 0) index += size;
      if (index < 0 || index >= size) Fail("index out of range");
      return Value::Of(items[static_cast<size_t>(index)]);
    }
    if (key.json().is_string()) return Attribute(object, key.json().get<std::string>());
    if (object.undefined()) Fail(StrCat("'", object.undefined_name, "' is undefined"));
    Fail(StrCat("cannot index ", TypeName(object), " with ", TypeName(key)));
  }

  Value Slice(const Value& object, const Expr* start_e, const Expr* stop_e, const Expr* step_e) {
    if (!object.json().is_array() && !object.json().is_string())
      Fail("cannot slice " + TypeName(object));
    const bool text = object.json().is_string();
    const Json j =
        text ? CharacterList(object.json().get_ref<const std::string&>()) : object.json();
    const int64_t size = static_cast<int64_t>(j.size());
    auto number = [&](const Expr* e) -> std::optional<int64_t> {
      if (!e) return std::nullopt;
      Value v = Eval(*e);
      if (v.json().is_null()) return std::nullopt;
      if (!v.json().is_number_integer()) Fail("slice indices must be integers");
      return v.json().get<int64_t>();
    };
    const int64_t step = number(step_e).value_or(1);
    if (step == 0) Fail("slice step cannot be zero");
    auto clamp = [&](std::optional<int64_t> v, int64_t fallback) {
      if (!v) return fallback;
      int64_t x = *v < 0 ? *v + size : *v;
      return step > 0 ? std::clamp<int64_t>(x, 0, size) : std::clamp<int64_t>(x, -1, size - 1);
    };
    int64_t start = clamp(number(start_e), step > 0 ? 0 : size - 1);
    int64_t stop = clamp(number(stop_e), step > 0 ? size : -1);
    Json list = Json::array();
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
      list.push_back(j[static_cast<size_t>(i)]);
    return text ? Value::Of(Joined(list)) : Value::Of(std::move(list));
  }

  Value BinaryOp(const std::string& op, const Value& a, const Value& b, bool negated) {
    if (op == "==") return Value::Of(Equal(a, b));
    if (op == "!=") return Value::Of(!Equal(a, b));
    if (op == "<") return Value::Of(Compare(a, b, op) < 0);
    if (op == "<=") return Value::Of(Compare(a, b, op) <= 0);
    if (op == ">") return Value::Of(Compare(a, b, op) > 0);
    if (op == ">=") return Value::Of(Compare(a, b, op) >= 0);
    if (op == "in") return Value::Of(Contains(b, a) != negated);
    if (op == "~") return Value::Of(Text(a) + Text(b));
    const Json &x = a.json(), &y = b.json();
    if (op == "+") {
      if (x.is_string() && y.is_string())
        return Value::Of(x.get<std::string>() + y.get<std::string>());
      if (x.is_array() && y.is_array()) {
        Json list = x;
        for (const Json& item : y) list.push_back(item);
        return Value::Of(std::move(list));
      }
    }
    if (IsNumber(a) && IsNumber(b)) {
      const bool ints = x.is_number_integer() && y.is_number_integer();
      if (ints && (op == "+" || op == "-" || op == "*" || op == "//" || op == "%")) {
        int64_t p = x.get<int64_t>(), q = y.get<int64_t>();
        if ((op == "//" || op == "%") && q == 0) Fail("division by zero");
        if (op == "+" || op == "-" || op == "*") return Value::Of(CheckedInteger(p, op[0], q));
        if (p == INT64_MIN && q == -1) Fail("integer overflow in " + op);
        int64_t quotient = p / q;
        if ((p % q != 0) && ((p < 0) != (q < 0))) --quotient;  // Python floors.
        return op == "//" ? Value::Of(quotient) : Value::Of(p - quotient * q);
      }
      double p = x.get<double>(), q = y.get<double>();
      if (op == "+") return Value::Of(p + q);
      if (op == "-") return Value::Of(p - q);
      if (op == "*") return Value::Of(p * q);
      if (q == 0) Fail("division by zero");
      if (op == "/") return Value::Of(p / q);
      if (op == "//") return Value::Of(std::floor(p / q));
      if (op == "%") return Value::Of(p - std::floor(p / q) * q);
    }
    if (op == "*" && x.is_string() && y.is_number_integer()) {
      std::string out;
      for (int64_t k = 0; k < y.get<int64_t>() && out.size() < kMaxOutputBytes; ++k)
        out += x.get<std::string>();
      return Value::Of(std::move(out));
    }
    Fail(StrCat("unsupported operand types for ", op, ": ", TypeName(a), " and ", TypeName(b)));
  }

  std::vector<Value> Arguments(const Expr& e, size_t skip) {
    std::vector<Value> args;
    for (size_t k = skip; k < e.args.size(); ++k) args.push_back(Eval(*e.args[k]));
    return args;
  }
  std::optional<Value> Keyword(const Expr& e, std::string_view name) {
    for (const auto& [key, value] : e.kwargs)
      if (key == name) return Eval(*value);
    return std::nullopt;
  }

  static std::string StringArg(const std::vector<Value>& args, size_t k, std::string fallback) {
    if (k >= args.size() || args[k].json().is_null()) return fallback;
    if (!args[k].json().is_string()) Fail("expected a string argument");
    return args[k].json().get<std::string>();
  }

  static std::string Strip(std::string s, const std::string& chars, bool left, bool right) {
    if (right) {
      size_t end = s.find_last_not_of(chars);
      s = end == std::string::npos ? "" : s.substr(0, end + 1);
    }
    if (left) {
      size_t start = s.find_first_not_of(chars);
      s = start == std::string::npos ? "" : s.substr(start);
    }
    return s;
  }
  static std::string Title(std::string s) {
    bool start = true;
    for (char& c : s) {
      unsigned char u = static_cast<unsigned char>(c);
      c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
      start = !std::isalnum(u);
    }
    return s;
  }
  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  static std::string Upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }
  static std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
    if (from.empty()) return s;
    std::string out;
    size_t pos = 0, hit;
    while ((hit = s.find(from, pos)) != std::string::npos) {
      out += s.substr(pos, hit - pos) + to;
      pos = hit + from.size();
    }
    return out + s.substr(pos);
  }

  Value Call(const Expr& e) {
    Value callee = Eval(*e.args[0]);
    std::vector<Value> args = Arguments(e, 1);
    if (callee.kind == Value::Kind::kMethod) return Method(callee, args);
    if (callee.kind != Value::Kind::kFunction)
      Fail(StrCat("'", callee.undefined() ? callee.undefined_name : TypeName(callee),
                  "' is not callable"));
    const std::string& name = callee.name;
    if (name == "raise_exception")
      Fail(args.empty() ? "the template raised an exception" : Text(args[0]),
           absl::StatusCode::kFailedPrecondition);
    if (name == "namespace") {
      Value space;
      space.kind = Value::Kind::kNamespace;
      space.space = std::make_shared<Json>(Json::object());
      if (!args.empty() && args[0].json().is_object()) *space.space = args[0].json();
      for (const auto& [key, value] : e.kwargs) (*space.space)[key] = Eval(*value).json();
      return space;
    }
    if (name == "range") {
      int64_t start = 0, stop = 0, step = 1;
      auto integer = [&](size_t k) {
        if (!args[k].json().is_number_integer()) Fail("range() takes integers");
        return args[k].json().get<int64_t>();
      };
      if (args.size() == 1) stop = integer(0);
      if (args.size() >= 2) start = integer(0), stop = integer(1);
      if (args.size() == 3) step = integer(2);
      if (args.empty() || args.size() > 3 || step == 0) Fail("range() takes 1 to 3 arguments");
      Json list = Json::array();
      for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
        if (list.size() >= static_cast<size_t>(kMaxIterations)) Fail("range() is too long");
        list.push_back(i);
        if (__builtin_add_overflow(i, step, &i)) break;  // Past the largest integer: done.
      }
      return Value::Of(std::move(list));
    }
    if (name == "strftime_now") {
      std::time_t now = std::time(nullptr);
      char text[128];
      std::strftime(text, sizeof text, StringArg(args, 0, "%Y-%m-%d").c_str(),
                    std::localtime(&now));
      return Value::Of(std::string(text));
    }
    Fail("unknown function " + name);
  }

  Value Method(const Value& bound, const std::vector<Value>& args) {
    const Json& self = bound.data;
    const std::string& name = bound.name;
    if (self.is_object()) {
      if (name == "items") {
        Json list = Json::array();
        for (const auto& [key, value] : self.items()) list.push_back(Json::array({key, value}));
        return Value::Of(std::move(list));
      }
      if (name == "keys" || name == "values") {
        Json list = Json::array();
        for (const auto& [key, value] : self.items())
          list.push_back(name == "keys" ? Json(key) : value);
        return Value::Of(std::move(list));
      }
      if (name == "get") {
        std::string key = StringArg(args, 0, "");
        if (self.contains(key)) return Value::Of(self.at(key));
        return args.size() > 1 ? args[1] : Value::Of(nullptr);
      }
    }
    if (self.is_string()) {
      const std::string& s = self.get_ref<const std::string&>();
      const std::string spaces = " \t\r\n\v\f";
      if (name == "strip") return Value::Of(Strip(s, StringArg(args, 0, spaces), true, true));
      if (name == "lstrip") return Value::Of(Strip(s, StringArg(args, 0, spaces), true, false));
      if (name == "rstrip") return Value::Of(Strip(s, StringArg(args, 0, spaces), false, true));
      if (name == "upper") return Value::Of(Upper(s));
      if (name == "lower") return Value::Of(Lower(s));
      if (name == "title") return Value::Of(Title(s));
      if (name == "capitalize")
        return Value::Of(s.empty() ? s : Upper(s.substr(0, 1)) + Lower(s.substr(1)));
      if (name == "startswith" || name == "endswith") {
        std::string affix = StringArg(args, 0, "");
        return Value::Of(name == "startswith" ? s.starts_with(affix) : s.ends_with(affix));
      }
      if (name == "replace")
        return Value::Of(ReplaceAll(s, StringArg(args, 0, ""), StringArg(args, 1, "")));
      if (name == "find") {
        size_t at = s.find(StringArg(args, 0, ""));
        return Value::Of(at == std::string::npos ? int64_t{-1} : static_cast<int64_t>(at));
      }
      if (name == "count") {
        std::string needle = StringArg(args, 0, "");
        int64_t n = 0;
        for (size_t at = needle.empty() ? std::string::npos : s.find(needle);
             at != std::string::npos; at = s.find(needle, at + needle.size()))
          ++n;
        return Value::Of(n);
      }
      if (name == "join") {
        if (args.empty() || !args[0].json().is_array()) Fail("join() takes a list");
        std::string out;
        bool first = true;
        for (const Json& item : args[0].json()) {
          out += (first ? "" : s) + Text(Value::Of(item));
          first = false;
        }
        return Value::Of(std::move(out));
      }
      if (name == "split") {
        Json parts = Json::array();
        std::string sep = StringArg(args, 0, "");
        if (sep.empty()) {
          size_t i = 0;
          while (true) {
            i = s.find_first_not_of(spaces, i);
            if (i == std::string::npos) break;
            size_t end = s.find_first_of(spaces, i);
            parts.push_back(s.substr(i, end == std::string::npos ? std::string::npos : end - i));
            if (end == std::string::npos) break;
            i = end;
          }
        } else {
          size_t pos = 0, hit;
          while ((hit = s.find(sep, pos)) != std::string::npos) {
            parts.push_back(s.substr(pos, hit - pos));
            pos = hit + sep.size();
          }
          parts.push_back(s.substr(pos));
        }
        return Value::Of(std::move(parts));
      }
    }
    Fail(StrCat(TypeName(Value::Of(self)), " has no method ", name));
  }

  Value Filter(const Expr& e) {
    const std::string& name = e.name;
    Value value = Eval(*e.args[0]);
    std::vector<Value> args = Arguments(e, 1);
    const Json& j = value.json();
    if (name == "default" || name == "d") {
      bool boolean = (args.size() > 1 && Truthy(args[1])) ||
                     (Keyword(e, "boolean") && Truthy(*Keyword(e, "boolean")));
      if (value.undefined() || (boolean && !Truthy(value)))
        return args.empty() ? Value::Of("") : args[0];
      return value;
    }
    if (value.undefined())
      Fail(StrCat("'", value.undefined_name, "' is undefined (filter ", name, ")"));
    if (name == "trim") return Value::Of(Strip(Text(value), " \t\r\n\v\f", true, true));
    if (name == "upper") return Value::Of(Upper(Text(value)));
    if (name == "lower") return Value::Of(Lower(Text(value)));
    if (name == "title") return Value::Of(Title(Text(value)));
    if (name == "capitalize") {
      std::string s = Text(value);
      return Value::Of(s.empty() ? s : Upper(s.substr(0, 1)) + Lower(s.substr(1)));
    }
    if (name == "string") return Value::Of(Text(value));
    if (name == "safe" || name == "e" || name == "escape") return value;
    if (name == "length" || name == "count") {
      if (j.is_string())
        return Value::Of(static_cast<int64_t>(Characters(j.get_ref<const std::string&>()).size()));
      if (j.is_array() || j.is_object()) return Value::Of(static_cast<int64_t>(j.size()));
      Fail("object of type " + TypeName(value) + " has no length");
    }
    if (name == "first" || name == "last") {
      if (!j.is_array() && !j.is_string()) return Value::Undefined(name);
      const Json items = j.is_array() ? j : CharacterList(j.get_ref<const std::string&>());
      if (items.empty()) return Value::Undefined(name);
      return Value::Of(name == "first" ? items.front() : items.back());
    }
    if (name == "join") {
      std::string sep = StringArg(args, 0, "");
      std::string out;
      bool first = true;
      for (const Json& item : j.is_array() ? j : Json::array()) {
        out += (first ? "" : sep) + Text(Value::Of(item));
        first = false;
      }
      return Value::Of(std::move(out));
    }
    if (name == "replace")
      return Value::Of(ReplaceAll(Text(value), StringArg(args, 0, ""), StringArg(args, 1, "")));
    if (name == "int") {
      if (j.is_number_integer()) return Value::Of(j.get<int64_t>());
      if (j.is_number()) {
        // Only doubles inside the 64-bit range convert (the cast is undefined
        // outside it); Python would give a big integer or refuse inf and nan.
        const double d = std::trunc(j.get<double>());
        if (!(d >= -0x1p63 && d < 0x1p63)) Fail(StrCat("int(", d, ") does not fit 64 bits"));
        return Value::Of(static_cast<int64_t>(d));
      }
      try {
        return Value::Of(static_cast<int64_t>(std::stoll(Text(value))));
      } catch (...) {
        return Value::Of(int64_t{0});
      }
    }
    if (name == "float") {
      if (j.is_number()) return Value::Of(j.get<double>());
      try {
        return Value::Of(std::stod(Text(value)));
      } catch (...) {
        return Value::Of(0.0);
      }
    }
    if (name == "abs" && IsNumber(value)) {
      if (!j.is_number_integer()) return Value::Of(std::fabs(j.get<double>()));
      const int64_t n = j.get<int64_t>();
      return Value::Of(n < 0 ? CheckedInteger(0, '-', n) : n);
    }
    if (name == "tojson") {
      std::optional<int> indent;
      std::optional<Value> indent_arg = args.empty() ? Keyword(e, "indent") : args[0];
      if (indent_arg && indent_arg->json().is_number_integer()) {
        // A huge indent would be allocated before the output limit applies.
        const int64_t requested = indent_arg->json().get<int64_t>();
        if (requested > 100) Fail(StrCat("tojson indent ", requested, " is larger than 100"));
        indent = static_cast<int>(std::max<int64_t>(requested, 0));  // Python: "" * -n.
      }
      std::string out;
      DumpJson(j, indent, 0, out);
      return Value::Of(std::move(out));
    }
    if (name == "list") {
      if (j.is_array()) return value;
      Json list = Json::array();
      if (j.is_string())
        list = CharacterList(j.get_ref<const std::string&>());
      else if (j.is_object())
        for (const auto& [key, item] : j.items()) list.push_back(key);
      else
        Fail("cannot make a list of " + TypeName(value));
      return Value::Of(std::move(list));
    }
    if (name == "items") {
      if (!j.is_object()) Fail("items needs a dict");
      Value bound;
      bound.kind = Value::Kind::kMethod;
      bound.data = j;
      bound.name = "items";
      return Method(bound, {});
    }
    if (name == "reverse") {
      if (j.is_string()) {
        Json chars = CharacterList(j.get_ref<const std::string&>());
        std::reverse(chars.begin(), chars.end());
        return Value::Of(Joined(chars));
      }
      if (!j.is_array()) Fail("cannot reverse " + TypeName(value));
      Json reversed = Json::array();
      for (auto it = j.rbegin(); it != j.rend(); ++it) reversed.push_back(*it);
      return Value::Of(std::move(reversed));
    }
    if (name == "selectattr" || name == "rejectattr" || name == "map") {
      if (!j.is_array()) Fail(name + " needs a list");
      std::string attribute = StringArg(args, 0, "");
      if (name == "map") {
        std::optional<Value> keyword = Keyword(e, "attribute");
        if (!keyword || !keyword->json().is_string())
          Fail("map() is supported with attribute= only");
        attribute = keyword->json().get<std::string>();
      }
      Json out = Json::array();
      for (const Json& item : j) {
        Value field = Attribute(Value::Of(item), attribute);
        if (name == "map") {
          out.push_back(field.json());
          continue;
        }
        bool passes = args.size() < 2 ? Truthy(field)
                                      : RunTest(StringArg(args, 1, ""), field,
                                                std::vector<Value>(args.begin() + 2, args.end()));
        if (passes == (name == "selectattr")) out.push_back(item);
      }
      return Value::Of(std::move(out));
    }
    Fail(StrCat("the filter '", name, "' is not supported in chat templates here"));
  }

  bool Test(const Expr& e) {
    Value value = Eval(*e.args[0]);
    return RunTest(e.name, value, Arguments(e, 1));
  }

  static bool RunTest(const std::string& name, const Value& value, const std::vector<Value>& args) {
    const Json& j = value.json();
    const bool data = value.kind == Value::Kind::kData;
    if (name == "defined") return !value.undefined();
    if (name == "undefined") return value.undefined();
    if (name == "none") return data && j.is_null();
    if (name == "string") return data && j.is_string();
    if (name == "number") return data && j.is_number();
    if (name == "integer") return data && j.is_number_integer();
    if (name == "float") return data && j.is_number_float();
    if (name == "boolean") return data && j.is_boolean();
    if (name == "true") return data && j.is_boolean() && j.get<bool>();
    if (name == "false") return data && j.is_boolean() && !j.get<bool>();
    if (name == "mapping") return (data && j.is_object()) || value.kind == Value::Kind::kNamespace;
    if (name == "sequence" || name == "iterable")
      return data && (j.is_array() || j.is_string() || j.is_object());
    if (name == "callable")
      return value.kind == Value::Kind::kFunction || value.kind == Value::Kind::kMethod;
    if (name == "odd" || name == "even") {
      if (!j.is_number_integer()) Fail("odd/even need an integer");
      return (j.get<int64_t>() % 2 != 0) == (name == "odd");
    }
    if (args.size() == 1) {
      if (name == "equalto" || name == "eq" || name == "==" || name == "sameas")
        return Equal(value, args[0]);
      if (name == "ne" || name == "!=") return !Equal(value, args[0]);
      if (name == "in") return Contains(args[0], value);
    }
    Fail(StrCat("the test '", name, "' is not supported in chat templates here"));
  }

  std::vector<std::map<std::string, Value>> scopes_;
  std::string out_;
  int64_t iterations_ = 0;
};

}  // namespace

absl::StatusOr<ChatTemplate> ChatTemplate::Parse(const std::string& source) {
  try {
    // Jinja2 drops one trailing newline (keep_trailing_newline is off in
    // apply_chat_template).
    std::string text = source;
    if (text.ends_with("\r\n"))
      text.resize(text.size() - 2);
    else if (text.ends_with("\n"))
      text.pop_back();
    auto root = std::make_shared<Node>(TemplateParser(Split(text)).ParseAll());
    return ChatTemplate(std::move(root));
  } catch (const TemplateError& error) {
    return absl::InvalidArgumentError(StrCat("chat template: ", error.message));
  } catch (const std::exception& error) {
    return absl::InvalidArgumentError(StrCat("chat template: ", error.what()));
  }
}

absl::StatusOr<std::string> ChatTemplate::Render(const nlohmann::ordered_json& context) const {
  try {
    return Renderer(context).Run(*root_);
  } catch (const TemplateError& error) {
    return absl::Status(error.code, StrCat("chat template: ", error.message));
  } catch (const LoopControl&) {
    return absl::InvalidArgumentError("chat template: 'break' or 'continue' outside a loop");
  } catch (const std::exception& error) {
    // A value the template's operations cannot take (a number too large,
    // text that is not UTF-8 for tojson): refused, never a crash.
    return absl::InvalidArgumentError(StrCat("chat template: ", error.what()));
  }
}

}  // namespace gauntlet::eval
