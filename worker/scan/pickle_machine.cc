#include "worker/scan/pickle_machine.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <deque>
#include <memory>
#include <unordered_map>

#include "absl/strings/escaping.h"
#include "common/format.h"
#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/decompress.h"
#include "worker/scan/npy_header.h"
#include "worker/scan/tensor_bytes.h"

namespace gauntlet::scan {
namespace {

// Containers keep only their first items: enough for evidence, shapes and
// call arguments, while a DUP/APPENDS bomb stays linear in the input size.
constexpr size_t kMaxItems = 64;
constexpr size_t kMinBlobBytes = 16;
constexpr int kMaxNestedStreams = 4;
// Python's pickler never writes DUP; a pickle with this many is hand-built.
constexpr uint64_t kDupFloodThreshold = 1000;
constexpr uint64_t kMemoExpansionGets = 10000;

struct Value {
  enum class Kind : uint8_t {
    kNone,
    kBool,
    kInt,
    kFloat,
    kStr,
    kBytes,
    kTuple,
    kList,
    kDict,
    kSet,
    kImport,
    kCall,
    kPersId,
    kUnknown,
  };
  Kind kind = Kind::kUnknown;
  int64_t number = 0;
  bool big_int = false;
  std::string_view text;            // kStr, kBytes; big ints as LE bytes.
  int import_index = -1;            // kImport.
  const Value* callee = nullptr;    // kCall: what was called.
  const Value* args = nullptr;      // kCall: its arguments.
  const Value* state = nullptr;     // kCall: what BUILD applied to the result.
  std::vector<const Value*> items;  // First kMaxItems items (dicts: key, value, ...).
  uint64_t item_count = 0;

  bool IsStr() const { return kind == Kind::kStr; }
};

using K = Value::Kind;

// int() of a text operand, as Python parses INT/LONG/GET/PUT lines.
std::optional<int64_t> ParsePyInt(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  return ParseInt<int64_t>(s);
}

// Symbolic values for one analysis, reused across analyses on a thread so a
// registry scan does not pay an allocation (and page faults) per value.
class ValueArena {
 public:
  Value* New(K kind) {
    if (used_ == capacity_) Grow();
    Value* v = &chunks_[used_ / kChunk][used_ % kChunk];
    ++used_;
    v->kind = kind;
    return v;
  }
  // Forgets every value, keeping the memory (and item capacity) for reuse.
  void Reset() {
    for (size_t i = 0; i < used_; ++i) {
      Value& v = chunks_[i / kChunk][i % kChunk];
      std::vector<const Value*> items = std::move(v.items);
      items.clear();
      v = Value();
      v.items = std::move(items);
    }
    used_ = 0;
    // Let one bomb's worth of memory go rather than keep it for the thread's life.
    while (chunks_.size() > kKeptChunks) chunks_.pop_back();
    capacity_ = chunks_.size() * kChunk;
  }

 private:
  static constexpr size_t kChunk = 1024;  // ~100 KiB: under malloc's mmap threshold.
  static constexpr size_t kKeptChunks = 16;
  void Grow() {
    chunks_.push_back(std::make_unique<Value[]>(kChunk));
    capacity_ += kChunk;
  }
  std::vector<std::unique_ptr<Value[]>> chunks_;
  size_t used_ = 0;
  size_t capacity_ = 0;
};

class Machine {
 public:
  Machine(std::string_view data, const ScanLimits& limits,
          std::chrono::steady_clock::time_point deadline, PickleResult& result, ValueArena& arena,
          int nesting)
      : data_(data),
        limits_(limits),
        deadline_(deadline),
        result_(result),
        nesting_(nesting),
        arena_(arena) {}

  // Runs one pickle from `pos` to its STOP; returns the offset after STOP,
  // or nullopt when it stopped early (result_.stop says why).
  std::optional<uint64_t> Run(uint64_t pos);

 private:
  // --- Value construction -------------------------------------------------
  Value* New(K kind) { return arena_.New(kind); }
  Value* NewText(K kind, std::string_view text) {
    constexpr size_t kMaxStrings = 1 << 20;
    if (kind == K::kStr && text.size() >= 4 && result_.strings.size() + text.size() < kMaxStrings) {
      result_.strings.append(text).push_back('\n');
    }
    Value* v = New(kind);
    v->text = text;
    return v;
  }
  Value* NewOwnedText(K kind, std::string text) {
    owned_.push_back(std::move(text));
    return NewText(kind, owned_.back());
  }
  Value* NewInt(int64_t n) {
    Value* v = New(K::kInt);
    v->number = n;
    return v;
  }
  Value* NewContainer(K kind, std::span<const Value* const> items) {
    Value* v = New(kind);
    AddItems(v, items);
    return v;
  }
  static void AddItems(Value* container, std::span<const Value* const> items) {
    size_t wanted = std::min(kMaxItems, container->items.size() + items.size());
    if (container->items.capacity() < wanted) container->items.reserve(wanted);
    for (const Value* item : items) {
      if (container->items.size() < kMaxItems) container->items.push_back(item);
      ++container->item_count;
    }
  }

  // --- Stack discipline (mirrors the C unpickler's fence) ----------------
  size_t Fence() const { return marks_.empty() ? 0 : marks_.back(); }
  bool Fail(std::string message) {
    if (!result_.stop) result_.stop = PickleStop{rules::kPickleParseError, std::move(message), op_};
    return false;
  }
  bool Limit(std::string message) {
    if (!result_.stop) result_.stop = PickleStop{rules::kLimitExceeded, std::move(message), op_};
    return false;
  }
  bool Pop(const Value*& out) {
    if (stack_.size() <= Fence()) return Fail("stack underflow");
    out = stack_.back();
    stack_.pop_back();
    return true;
  }
  bool Push(const Value* v) {
    if (stack_.size() >= limits_.max_pickle_stack) {
      return Limit(StrCat("pickle stack deeper than max_pickle_stack=", limits_.max_pickle_stack));
    }
    if (v->kind == K::kImport) ++result_.imports[v->import_index].appearances;
    stack_.push_back(v);
    return true;
  }
  bool PopMark(std::vector<const Value*>& out) {
    if (marks_.empty()) return Fail("MARK expected but none is open");
    size_t mark = marks_.back();
    marks_.pop_back();
    out.assign(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return true;
  }

  // --- Operand readers ---------------------------------------------------
  bool Need(uint64_t n) {
    if (n > data_.size() - pos_) return Fail(StrCat("truncated: opcode needs ", n, " more bytes"));
    return true;
  }
  template <typename T>
  bool ReadLE(T& out) {
    if (!Need(sizeof(T))) return false;
    std::memcpy(&out, data_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool ReadBytes(uint64_t n, std::string_view& out) {
    if (!Need(n)) return false;
    out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  // GET/PUT keys: a text line (g, p), one byte (h, q) or four bytes (j, r).
  bool ReadMemoKey(uint8_t opcode, uint64_t& key) {
    if (opcode == 'g' || opcode == 'p') {
      std::string_view line;
      if (!ReadLine(line)) return false;
      auto parsed = ParsePyInt(line);
      if (!parsed || *parsed < 0) return Fail("memo key operand is not a number");
      key = static_cast<uint64_t>(*parsed);
      return true;
    }
    if (opcode == 'h' || opcode == 'q') {
      uint8_t k = 0;
      if (!ReadLE(k)) return false;
      key = k;
      return true;
    }
    uint32_t k = 0;
    if (!ReadLE(k)) return false;
    key = k;
    return true;
  }
  // INT/LONG text operands, which Python parses with int(): any size.
  bool PushTextInt(std::string_view text, std::string_view opcode) {
    if (auto parsed = ParsePyInt(text)) return Push(NewInt(*parsed));
    if (text.empty() || text.find_first_not_of("-+0123456789 ") != std::string_view::npos) {
      return Fail(StrCat(opcode, " operand is not a number"));
    }
    Value* v = NewText(K::kInt, text);
    v->big_int = true;
    return Push(v);
  }
  bool ReadLine(std::string_view& out) {
    size_t nl = data_.find('\n', pos_);
    if (nl == std::string_view::npos) return Fail("truncated: line operand has no newline");
    out = data_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    if (!out.empty() && out.back() == '\r') out.remove_suffix(1);
    return true;
  }

  // --- Imports and calls ---------------------------------------------------
  // Imports are interned: a state_dict imports _rebuild_tensor_v2 once per
  // tensor, and the evidence and policy work should happen once per name.
  Value* Import(std::string_view module, std::string_view name, std::string_view how) {
    std::string qualified = StrCat(module, ".", name);
    auto [it, inserted] =
        import_index_.try_emplace(qualified, static_cast<int>(result_.imports.size()));
    if (inserted) {
      PickleImport& imp = result_.imports.emplace_back();
      imp.module = std::string(module);
      imp.name = std::string(name);
      imp.offset = op_;
      imp.opcode = how;
      imp.qualified = std::move(qualified);
    } else {
      ++result_.imports[it->second].count;
    }
    Value* v = New(K::kImport);
    v->import_index = it->second;
    return v;
  }
  std::string_view QualName(const Value* v) const {
    if (v->kind != K::kImport) return {};
    return result_.imports[v->import_index].qualified;
  }
  Value* Call(const Value* callee, const Value* args) {
    Value* call = New(K::kCall);
    call->callee = callee;
    call->args = args;
    if (callee->kind != K::kImport) {
      ComputedCallable(callee, call, "is called");
      return call;
    }
    // A copy: the checks below can intern new imports, which moves them.
    const std::string callee_name = result_.imports[callee->import_index].qualified;
    MarkCalled(callee, call);
    if (IsSanctionedCall(callee_name, args)) {
      ++result_.imports[callee->import_index].sanctioned_calls;
      // Reading an attribute of a class needs the class vetted, like a call.
      if (args->items[0]->kind == K::kImport) MarkCalled(args->items[0], call);
    }
    CheckCalledArguments(callee_name, args, call);
    Decode(call);
    // torch.load of the argument: whatever it holds is loaded.
    if (callee_name == "torch.storage._load_from_bytes" && args && args->kind == K::kTuple &&
        !args->items.empty() && args->items[0]->kind == K::kBytes) {
      NoteBlob(args->items[0]->text, "torch.storage._load_from_bytes(...)", false);
    }
    return call;
  }
  // A callable that is not an import cannot be judged by the policy.
  // Literals are left alone: calling one fails at load time.
  void ComputedCallable(const Value* callable, const Value* call, std::string_view how) {
    if (callable->kind != K::kCall && callable->kind != K::kUnknown &&
        callable->kind != K::kPersId) {
      return;
    }
    // getattr(<import>, 'name') is the import's attribute: judged by the
    // policy as the dotted name (torch.relu pickles as
    // getattr(torch._C._VariableFunctionsClass, 'relu')).
    if (const Value* owner = AttributeOwner(callable)) {
      const PickleImport& base = result_.imports[owner->import_index];
      std::string module = base.module;
      std::string name = StrCat(base.name, ".", callable->args->items[1]->text);
      MarkCalled(Import(module, name, "getattr"), call);
      return;
    }
    result_.events.push_back(
        PickleEvent{rules::kComputedCall, Severity::kHigh,
                    StrCat("a callable computed at load time ", how, ": ", Describe(callable, 2)),
                    op_, Describe(call, 3)});
  }
  // An import that will be called is judged as called, whoever calls it.
  void MarkCalled(const Value* import, const Value* call) {
    PickleImport& imp = result_.imports[import->import_index];
    imp.called = true;
    if (imp.evidence.empty()) imp.evidence = Describe(call, 3);
  }
  // The argument-aware allowances of the allowlist: getattr(<import>,
  // 'Member') is how Python 3.11+ pickles an Enum member (getattr(<object>,
  // 'method') a bound method), and functools.partial(<import>, ...) how
  // functools pickles a partial. Each is judged by what it reaches, which
  // Call and CheckCalledArguments mark as called.
  bool IsSanctionedCall(std::string_view callee, const Value* args) const {
    if (!args || args->kind != K::kTuple || args->items.empty()) return false;
    const Value* target = args->items[0];
    if (IsGetattr(callee)) {
      return (target->kind == K::kImport || target->kind == K::kCall) && args->item_count == 2 &&
             args->items[1]->IsStr() && IsPlainAttributeName(args->items[1]->text);
    }
    return IsPartial(callee) && (target->kind == K::kImport || AttributeOwner(target));
  }
  static bool IsGetattr(std::string_view callee) {
    return callee == "builtins.getattr" || callee == "__builtin__.getattr";
  }
  static bool IsPartial(std::string_view callee) {
    return callee == "functools.partial" || callee == "_functools.partial";
  }
  // The import whose attribute `v` is, when `v` is getattr(<import>, 'name').
  const Value* AttributeOwner(const Value* v) const {
    if (v->kind != K::kCall || !IsGetattr(QualName(v->callee)) || !v->args ||
        v->args->kind != K::kTuple || v->args->item_count != 2 ||
        v->args->items[0]->kind != K::kImport || !v->args->items[1]->IsStr() ||
        !IsPlainAttributeName(v->args->items[1]->text)) {
      return nullptr;
    }
    return v->args->items[0];
  }
  // An identifier that is neither a dunder nor name-mangled: getattr can
  // reach no interpreter internals (__class__, __globals__, __reduce__).
  static bool IsPlainAttributeName(std::string_view name) {
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])) ||
        name.substr(0, 2) == "__") {
      return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
  }
  // Allowed functions that call (or instantiate) what they are given: the
  // argument is the real callee. An import there is judged as called; a
  // computed value there is a computed call.
  void CheckCalledArguments(std::string_view callee, const Value* args, const Value* call) {
    struct CallsArguments {
      std::string_view callee;
      int first, last;  // Argument positions it calls.
    };
    static constexpr CallsArguments kCallers[] = {
        {"functools.partial", 0, 0},
        {"_functools.partial", 0, 0},
        {"copyreg._reconstructor", 0, 1},
        {"copy_reg._reconstructor", 0, 1},
        {"copyreg.__newobj__", 0, 0},
        {"copyreg.__newobj_ex__", 0, 0},
        {"torch._tensor._rebuild_from_type_v2", 0, 1},
        {"torch._tensor._rebuild_from_type", 0, 1},
        {"torch._utils._rebuild_wrapper_subclass", 0, 0},
    };
    if (!args || args->kind != K::kTuple) return;
    for (const CallsArguments& caller : kCallers) {
      if (caller.callee != callee) continue;
      for (int i = caller.first; i <= caller.last && i < static_cast<int>(args->items.size());
           ++i) {
        const Value* arg = args->items[i];
        if (arg->kind == K::kImport) {
          MarkCalled(arg, call);
        } else {
          ComputedCallable(arg, call, StrCat("is passed to ", callee, ", which calls it"));
        }
      }
    }
  }
  void Discarded(const Value* v, std::string_view opcode) {
    if (v->kind != K::kCall) return;
    result_.events.push_back(PickleEvent{rules::kDiscardedCall, Severity::kLow,
                                         StrCat("result of a call is thrown away by ", opcode), op_,
                                         Describe(v, 2)});
  }

  // Evaluates the few pure decoding functions attackers use to hide an inner
  // payload, so the payload itself can be scanned.
  void Decode(Value* call) {
    const Value* args = call->args;
    if (!args || args->kind != K::kTuple || args->items.empty()) return;
    const Value* a0 = args->items[0];
    if (a0->kind != K::kStr && a0->kind != K::kBytes) return;
    std::string_view module = result_.imports[call->callee->import_index].module;
    if (module != "base64" && module != "binascii" && module != "zlib" && module != "gzip" &&
        module != "bz2" && module != "lzma" && module != "codecs" && module != "_codecs" &&
        module != "builtins") {
      return;
    }
    std::string_view name = QualName(call->callee);
    std::string_view arg1 =
        args->items.size() > 1 && args->items[1]->IsStr() ? args->items[1]->text : "";
    std::optional<std::string> decoded;
    const uint64_t cap = limits_.max_decompressed_bytes;
    if (name == "base64.b64decode" || name == "base64.decodebytes" ||
        name == "base64.standard_b64decode" || name == "binascii.a2b_base64" ||
        (name == "codecs.decode" && arg1 == "base64") ||
        (name == "_codecs.decode" && arg1 == "base64")) {
      std::string out;
      if (absl::Base64Unescape(ToAbsl(a0->text), &out)) decoded = std::move(out);
    } else if (name == "base64.urlsafe_b64decode") {
      std::string out;
      if (absl::WebSafeBase64Unescape(ToAbsl(a0->text), &out)) decoded = std::move(out);
    } else if (name == "zlib.decompress" || name == "gzip.decompress" ||
               (name == "codecs.decode" && arg1 == "zlib")) {
      auto out = Decompress(Codec::kGzipOrZlib, a0->text, cap);
      if (out.ok()) decoded = std::move(*out);
    } else if (name == "bz2.decompress") {
      auto out = Decompress(Codec::kBzip2, a0->text, cap);
      if (out.ok()) decoded = std::move(*out);
    } else if (name == "lzma.decompress") {
      auto out = Decompress(Codec::kXz, a0->text, cap);
      if (out.ok()) decoded = std::move(*out);
    } else if ((name == "_codecs.encode" || name == "codecs.encode") &&
               (arg1 == "latin1" || arg1 == "latin-1")) {
      // Protocol 2 writes bytes as _codecs.encode(str, 'latin1'): undo it.
      std::string out;
      for (size_t i = 0; i < a0->text.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(a0->text[i]);
        if (c < 0x80) {
          out.push_back(static_cast<char>(c));
        } else if ((c & 0xE0) == 0xC0 && i + 1 < a0->text.size()) {
          out.push_back(static_cast<char>(((c & 0x1F) << 6) | (a0->text[++i] & 0x3F)));
        } else {
          return;  // Not latin-1 representable: Python would raise.
        }
      }
      decoded = std::move(out);
    } else if (name == "builtins.bytes.fromhex" || name == "binascii.unhexlify" ||
               name == "binascii.a2b_hex") {
      std::string out = absl::HexStringToBytes(ToAbsl(a0->text));
      decoded = std::move(out);
    }
    if (!decoded) return;
    Value* bytes = NewOwnedText(K::kBytes, std::move(*decoded));
    call->state = bytes;  // The call evaluates to these bytes.
    bool latin1 = name == "_codecs.encode" || name == "codecs.encode";
    NoteBlob(bytes->text, StrCat(name, "(...)"), /*strong_only=*/latin1);
  }
  void NoteBlob(std::string_view bytes, std::string how, bool strong_only) {
    if (bytes.size() < kMinBlobBytes) return;
    if (auto it = blob_index_.find(bytes.data()); it != blob_index_.end()) {
      // Seen as raw bytes first, now as what a loader reads: scan it whole.
      if (!strong_only) result_.blobs[it->second].strong_only = false;
      return;
    }
    Format f = SniffFormat(bytes.substr(0, 4096));
    if (f == Format::kText || f == Format::kUnknown || f == Format::kEmpty) return;
    if (strong_only && !CanHoldStrongPayload(f)) return;
    blob_index_.emplace(bytes.data(), result_.blobs.size());
    result_.blobs.push_back(EmbeddedBlob{op_, std::string(bytes), std::move(how), strong_only});
  }

  std::string Describe(const Value* v, int depth) const;

  // joblib writes each numpy array's raw bytes into the stream right after
  // the BUILD of its NumpyArrayWrapper; skip them like joblib's reader does.
  bool SkipJoblibArray(const Value* wrapper);

  bool Step(uint8_t opcode);

  std::string_view data_;
  const ScanLimits& limits_;
  std::chrono::steady_clock::time_point deadline_;
  PickleResult& result_;
  int nesting_;
  uint64_t pos_ = 0;
  uint64_t op_ = 0;  // Offset of the opcode being executed.
  uint64_t frame_end_ = 0;
  bool frame_reported_ = false;
  std::vector<const Value*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, const Value*> memo_;
  std::unordered_map<std::string, int> import_index_;
  std::unordered_map<const char*, size_t> blob_index_;  // Blob bytes -> result_.blobs.
  ValueArena& arena_;
  std::deque<std::string> owned_;
  uint64_t gets_ = 0, puts_ = 0, dups_ = 0;
  const Value* top_result_ = nullptr;
  bool stopped_ = false;
};

std::string Machine::Describe(const Value* v, int depth) const {
  auto quote = [](std::string_view s) {
    std::string shown = absl::CHexEscape(ToAbsl(s.substr(0, 120)));
    return StrCat("'", shown, s.size() > 120 ? "..." : "", "'");
  };
  auto list = [&](const Value* c, std::string_view open, std::string_view close) {
    std::string out(open);
    for (size_t i = 0; i < c->items.size() && i < 8; ++i) {
      if (i) out += ", ";
      out += Describe(c->items[i], depth - 1);
    }
    if (c->item_count > 8) out += ", ...";
    return StrCat(out, close);
  };
  if (depth <= 0) return "...";
  switch (v->kind) {
    case K::kNone:
      return "None";
    case K::kBool:
      return v->number ? "True" : "False";
    case K::kInt:
      return v->big_int ? "<big int>" : StrCat(v->number);
    case K::kFloat:
      return "<float>";
    case K::kStr:
      return quote(v->text);
    case K::kBytes:
      return StrCat("b", quote(v->text));
    case K::kTuple:
      return list(v, "(", ")");
    case K::kList:
      return list(v, "[", "]");
    case K::kSet:
      return list(v, "{", "}");
    case K::kDict:
      return list(v, "{", "}");
    case K::kImport:
      return std::string(QualName(v));
    case K::kCall: {
      std::string args = v->args && v->args->kind == K::kTuple
                             ? list(v->args, "(", ")")
                             : StrCat("(*", v->args ? Describe(v->args, depth - 1) : "", ")");
      return StrCat(Describe(v->callee, depth - 1), args);
    }
    case K::kPersId:
      return "<persistent id>";
    case K::kUnknown:
      return "<unknown>";
  }
  return "?";
}

bool Machine::SkipJoblibArray(const Value* wrapper) {
  const Value* state = wrapper->state;
  if (!state || state->kind != K::kDict) return Fail("joblib array wrapper has no state dict");
  const Value* shape = nullptr;
  const Value* dtype = nullptr;
  bool aligned = false;
  for (size_t i = 0; i + 1 < state->items.size(); i += 2) {
    std::string_view key = state->items[i]->IsStr() ? state->items[i]->text : "";
    if (key == "shape") shape = state->items[i + 1];
    if (key == "dtype") dtype = state->items[i + 1];
    if (key == "numpy_array_alignment_bytes") aligned = state->items[i + 1]->kind == K::kInt;
  }
  // numpy.dtype('f8', False, True): the type code is the first argument.
  const Value* code = nullptr;
  if (dtype && dtype->kind == K::kCall && dtype->args && dtype->args->kind == K::kTuple &&
      !dtype->args->items.empty()) {
    code = dtype->args->items[0];
  }
  if (!shape || shape->kind != K::kTuple || shape->item_count != shape->items.size() || !code ||
      !code->IsStr()) {
    return Fail("cannot determine the size of a joblib array");
  }
  bool is_object = false;
  std::optional<uint64_t> nbytes = TypeStringItemSize(code->text, &is_object);
  for (const Value* dim : shape->items) {
    if (!nbytes || dim->kind != K::kInt || dim->number < 0 ||
        (dim->number != 0 && *nbytes > UINT64_MAX / static_cast<uint64_t>(dim->number))) {
      return Fail("joblib array shape is not a tuple of sizes");
    }
    *nbytes *= static_cast<uint64_t>(dim->number);
  }
  if (!nbytes) return Fail(StrCat("unknown joblib dtype '", code->text, "'"));
  result_.is_joblib = true;
  // joblib closes the current frame before writing array data; what follows
  // is outside any frame.
  frame_end_ = 0;
  if (is_object) {
    // Object arrays are a complete pickle of their own, loaded on the spot.
    if (nesting_ >= kMaxNestedStreams) return Limit("joblib object arrays nested too deeply");
    Machine inner(data_, limits_, deadline_, result_, arena_, nesting_ + 1);
    std::optional<uint64_t> end = inner.Run(pos_);
    if (!end) return false;
    pos_ = *end;
    return true;
  }
  if (aligned) {
    uint8_t padding = 0;
    if (!ReadLE(padding)) return false;
    if (!Need(padding)) return false;
    pos_ += padding;
  }
  if (!Need(*nbytes)) return false;
  pos_ += *nbytes;
  return true;
}

bool Machine::Step(uint8_t opcode) {
  const Value* a = nullptr;
  const Value* b = nullptr;
  const Value* c = nullptr;
  std::vector<const Value*> items;
  std::string_view s;
  switch (opcode) {
    // --- Framing and control ------------------------------------------------
    case 0x80: {  // PROTO
      uint8_t proto = 0;
      if (!ReadLE(proto)) return false;
      if (proto > 5) return Fail(StrCat("unsupported pickle protocol ", int{proto}));
      result_.protocol = proto;
      return true;
    }
    case 0x95: {  // FRAME
      uint64_t len = 0;
      if (!ReadLE(len)) return false;
      if (pos_ < frame_end_ && !frame_reported_) {
        frame_reported_ = true;
        result_.events.push_back(PickleEvent{rules::kFrameViolation, Severity::kMedium,
                                             "a new FRAME starts before the previous one ends", op_,
                                             ""});
      }
      if (len > data_.size() - pos_) return Fail("FRAME length runs past the end of the data");
      frame_end_ = pos_ + len;
      return true;
    }
    case '.':  // STOP
      if (!Pop(a)) return false;
      top_result_ = a;
      for (const Value* left : stack_) Discarded(left, "STOP");
      stopped_ = true;
      return true;
    case '(':  // MARK
      marks_.push_back(stack_.size());
      return true;
    case '0':  // POP: below the fence the C unpickler pops a mark instead.
      if (stack_.size() > Fence()) {
        Discarded(stack_.back(), "POP");
        stack_.pop_back();
        return true;
      }
      if (!marks_.empty()) {
        marks_.pop_back();
        return true;
      }
      return Fail("stack underflow");
    case '1':  // POP_MARK
      if (!PopMark(items)) return false;
      for (const Value* v : items) Discarded(v, "POP_MARK");
      return true;
    case '2':  // DUP
      if (stack_.size() <= Fence()) return Fail("stack underflow");
      ++dups_;
      return Push(stack_.back());

    // --- Scalars --------------------------------------------------------------
    case 'N':
      return Push(New(K::kNone));
    case 0x88: {
      Value* v = New(K::kBool);
      v->number = 1;
      return Push(v);
    }
    case 0x89:
      return Push(New(K::kBool));
    case 'I': {  // INT (text); "00"/"01" are protocol 0 booleans.
      if (!ReadLine(s)) return false;
      if (s == "00" || s == "01") {
        Value* v = New(K::kBool);
        v->number = s == "01";
        return Push(v);
      }
      return PushTextInt(s, "INT");
    }
    case 'J': {
      int32_t n = 0;
      if (!ReadLE(n)) return false;
      return Push(NewInt(n));
    }
    case 'K': {
      uint8_t n = 0;
      if (!ReadLE(n)) return false;
      return Push(NewInt(n));
    }
    case 'M': {
      uint16_t n = 0;
      if (!ReadLE(n)) return false;
      return Push(NewInt(n));
    }
    case 'L': {  // LONG (text, trailing 'L')
      if (!ReadLine(s)) return false;
      if (!s.empty() && s.back() == 'L') s.remove_suffix(1);
      return PushTextInt(s, "LONG");
    }
    case 0x8a:    // LONG1
    case 0x8b: {  // LONG4
      uint64_t n = 0;
      if (opcode == 0x8a) {
        uint8_t n8 = 0;
        if (!ReadLE(n8)) return false;
        n = n8;
      } else {
        int32_t n32 = 0;
        if (!ReadLE(n32)) return false;
        if (n32 < 0) return Fail("LONG4 with a negative byte count");
        n = static_cast<uint64_t>(n32);
      }
      if (!ReadBytes(n, s)) return false;
      Value* v = NewText(K::kInt, s);
      if (n <= 8 && n > 0) {
        int64_t value = 0;
        std::memcpy(&value, s.data(), n);
        if (n < 8 && (static_cast<unsigned char>(s[n - 1]) & 0x80)) value -= int64_t{1} << (8 * n);
        v->number = value;
      } else {
        v->big_int = n > 8;
      }
      return Push(v);
    }
    case 'F':
      if (!ReadLine(s)) return false;
      return Push(New(K::kFloat));
    case 'G':
      if (!ReadBytes(8, s)) return false;
      return Push(New(K::kFloat));

    // --- Strings and bytes -----------------------------------------------------
    case 'S': {  // STRING: a quoted Python literal.
      if (!ReadLine(s)) return false;
      if (s.size() < 2 || (s.front() != '\'' && s.front() != '"') || s.back() != s.front()) {
        return Fail("the STRING opcode argument must be quoted");
      }
      std::string unescaped;
      if (!absl::CUnescape(ToAbsl(s.substr(1, s.size() - 2)), &unescaped)) {
        unescaped = std::string(s.substr(1, s.size() - 2));
      }
      return Push(NewOwnedText(K::kStr, std::move(unescaped)));
    }
    case 'V':  // UNICODE (raw-unicode-escape); ASCII payloads decode to themselves.
      if (!ReadLine(s)) return false;
      return Push(NewText(K::kStr, s));
    case 'T':
    case 'X': {  // BINSTRING, BINUNICODE: 4-byte length.
      uint32_t n = 0;
      if (!ReadLE(n)) return false;
      if (opcode == 'T' && static_cast<int32_t>(n) < 0)
        return Fail("BINSTRING with a negative length");
      if (!ReadBytes(n, s)) return false;
      return Push(NewText(K::kStr, s));
    }
    case 'U':
    case 0x8c: {  // SHORT_BINSTRING, SHORT_BINUNICODE
      uint8_t n = 0;
      if (!ReadLE(n) || !ReadBytes(n, s)) return false;
      return Push(NewText(K::kStr, s));
    }
    case 0x8d: {  // BINUNICODE8
      uint64_t n = 0;
      if (!ReadLE(n) || !ReadBytes(n, s)) return false;
      return Push(NewText(K::kStr, s));
    }
    case 'B':
    case 'C':
    case 0x8e:
    case 0x96: {  // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8
      uint64_t n = 0;
      if (opcode == 'B') {
        uint32_t n32 = 0;
        if (!ReadLE(n32)) return false;
        n = n32;
      } else if (opcode == 'C') {
        uint8_t n8 = 0;
        if (!ReadLE(n8)) return false;
        n = n8;
      } else if (!ReadLE(n))
        return false;
      if (!ReadBytes(n, s)) return false;
      NoteBlob(s, "bytes constant", /*strong_only=*/true);
      return Push(NewText(K::kBytes, s));
    }
    case 0x97:  // NEXT_BUFFER: needs out-of-band buffers, which loaders never pass.
      return Fail("NEXT_BUFFER without out-of-band buffers");
    case 0x98:  // READONLY_BUFFER
      if (stack_.size() <= Fence()) return Fail("stack underflow");
      return true;

    // --- Containers ---------------------------------------------------------
    case ')':
      return Push(New(K::kTuple));
    case ']':
      return Push(New(K::kList));
    case '}':
      return Push(New(K::kDict));
    case 0x8f:
      return Push(New(K::kSet));
    case 't':
    case 'l':
    case 'd':
    case 0x91: {  // TUPLE, LIST, DICT, FROZENSET
      if (!PopMark(items)) return false;
      K kind = opcode == 't'   ? K::kTuple
               : opcode == 'l' ? K::kList
               : opcode == 'd' ? K::kDict
                               : K::kSet;
      if (kind == K::kDict && items.size() % 2) return Fail("DICT with an odd number of items");
      return Push(NewContainer(kind, items));
    }
    case 0x85:
    case 0x86:
    case 0x87: {  // TUPLE1..3
      size_t n = opcode - 0x84;
      if (stack_.size() < Fence() + n) return Fail("stack underflow");
      items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
      stack_.resize(stack_.size() - n);
      return Push(NewContainer(K::kTuple, items));
    }
    case 'a':  // APPEND
      if (!Pop(a) || stack_.size() <= Fence()) return Fail("stack underflow");
      if (stack_.back()->kind == K::kList) AddItems(const_cast<Value*>(stack_.back()), {&a, 1});
      return true;
    case 'e':
    case 0x90:  // APPENDS, ADDITEMS
      if (!PopMark(items)) return false;
      if (stack_.size() <= Fence()) return Fail("stack underflow");
      if (stack_.back()->kind == K::kList || stack_.back()->kind == K::kSet) {
        AddItems(const_cast<Value*>(stack_.back()), items);
      }
      return true;
    case 's':  // SETITEM
      if (!Pop(b) || !Pop(a)) return false;
      if (stack_.size() <= Fence()) return Fail("stack underflow");
      if (stack_.back()->kind == K::kDict) {
        const Value* pair[] = {a, b};
        AddItems(const_cast<Value*>(stack_.back()), pair);
      }
      return true;
    case 'u':  // SETITEMS
      if (!PopMark(items)) return false;
      if (items.size() % 2) return Fail("SETITEMS with an odd number of items");
      if (stack_.size() <= Fence()) return Fail("stack underflow");
      if (stack_.back()->kind == K::kDict) AddItems(const_cast<Value*>(stack_.back()), items);
      return true;

    // --- Memo ---------------------------------------------------------------
    case 'g':
    case 'h':
    case 'j': {  // GET, BINGET, LONG_BINGET
      uint64_t key = 0;
      if (!ReadMemoKey(opcode, key)) return false;
      auto it = memo_.find(key);
      if (it == memo_.end()) return Fail(StrCat("memo key ", key, " was never stored"));
      ++gets_;
      return Push(it->second);
    }
    case 'p':
    case 'q':
    case 'r':
    case 0x94: {                    // PUT, BINPUT, LONG_BINPUT, MEMOIZE
      uint64_t key = memo_.size();  // MEMOIZE's implicit key.
      if (opcode != 0x94 && !ReadMemoKey(opcode, key)) return false;
      if (stack_.size() <= Fence()) return Fail("memoizing with an empty stack");
      if (memo_.size() >= limits_.max_pickle_memo && !memo_.count(key)) {
        return Limit(StrCat("pickle memo larger than max_pickle_memo=", limits_.max_pickle_memo));
      }
      ++puts_;
      memo_[key] = stack_.back();
      return true;
    }

    // --- Imports --------------------------------------------------------------
    case 'c':
    case 'i': {  // GLOBAL, INST
      std::string_view module, name;
      if (!ReadLine(module) || !ReadLine(name)) return false;
      Value* imp = Import(module, name, opcode == 'c' ? "GLOBAL" : "INST");
      if (opcode == 'c') return Push(imp);
      ++result_.imports[imp->import_index].appearances;  // INST calls it in place.
      if (!PopMark(items)) return false;
      return Push(Call(imp, NewContainer(K::kTuple, items)));
    }
    case 0x93: {  // STACK_GLOBAL
      if (!Pop(b) || !Pop(a)) return false;
      auto resolvable = [](const Value* v) { return v->kind == K::kStr; };
      auto maybe_str = [](const Value* v) { return v->kind == K::kCall || v->kind == K::kUnknown; };
      if (resolvable(a) && resolvable(b)) {
        return Push(Import(a->text, b->text, "STACK_GLOBAL"));
      }
      if ((resolvable(a) || maybe_str(a)) && (resolvable(b) || maybe_str(b))) {
        result_.events.push_back(PickleEvent{
            rules::kUnresolvedGlobal, Severity::kCritical,
            "STACK_GLOBAL operands are computed at load time, so the import cannot be known", op_,
            StrCat(Describe(a, 2), ", ", Describe(b, 2))});
        return Push(Import("<computed>", "<computed>", "STACK_GLOBAL"));
      }
      return Fail(
          StrCat("STACK_GLOBAL operands are not strings: ", Describe(a, 2), ", ", Describe(b, 2)));
    }
    case 0x82:
    case 0x83:
    case 0x84: {  // EXT1, EXT2, EXT4
      uint32_t code = 0;
      if (opcode == 0x82) {
        uint8_t k = 0;
        if (!ReadLE(k)) return false;
        code = k;
      } else if (opcode == 0x83) {
        uint16_t k = 0;
        if (!ReadLE(k)) return false;
        code = k;
      } else if (!ReadLE(code))
        return false;
      result_.events.push_back(PickleEvent{
          rules::kExtensionCode, Severity::kCritical,
          "imports a callable through the copyreg extension registry, invisible to GLOBAL-based "
          "scanners",
          op_, StrCat("extension code ", code)});
      return Push(Import("copyreg.extension", StrCat(code), "EXT"));
    }

    // --- Calls and object construction ------------------------------------
    case 'R':  // REDUCE
      if (!Pop(b) || !Pop(a)) return false;
      return Push(Call(a, b));
    case 0x81:  // NEWOBJ
      if (!Pop(b) || !Pop(a)) return false;
      return Push(Call(a, b));
    case 0x92: {  // NEWOBJ_EX
      if (!Pop(c) || !Pop(b) || !Pop(a)) return false;
      Value* call = Call(a, b);
      return Push(call);
    }
    case 'o': {  // OBJ
      if (!PopMark(items)) return false;
      if (items.empty()) return Fail("OBJ without a class");
      const Value* cls = items.front();
      items.erase(items.begin());
      return Push(Call(cls, NewContainer(K::kTuple, items)));
    }
    case 'b': {  // BUILD
      if (!Pop(b)) return false;
      if (stack_.size() <= Fence()) return Fail("stack underflow");
      const Value* target = stack_.back();
      if (target->kind == K::kImport) {
        result_.events.push_back(
            PickleEvent{rules::kBuildOnGlobal, Severity::kHigh,
                        "BUILD sets attributes directly on an imported class or function", op_,
                        StrCat(QualName(target), ".__dict__.update(", Describe(b, 2), ")")});
      }
      if (target->kind != K::kCall) return true;
      const_cast<Value*>(target)->state = b;
      // A partial's state is (func, args, kwds, dict): its func is what a
      // caller of the loaded object will run.
      if (IsPartial(QualName(target->callee)) && b->kind == K::kTuple && !b->items.empty()) {
        if (b->items[0]->kind == K::kImport) {
          MarkCalled(b->items[0], target);
        } else {
          ComputedCallable(b->items[0], target, "becomes the function of a functools.partial");
        }
      }
      // Old protocols build objects via copyreg._reconstructor(cls, base, state).
      const Value* cls = target->callee;
      if (QualName(cls) == "copyreg._reconstructor" && target->args &&
          !target->args->items.empty()) {
        cls = target->args->items[0];
      }
      if (QualName(cls) == "joblib.numpy_pickle.NumpyArrayWrapper") return SkipJoblibArray(target);
      return true;
    }
    case 'P': {  // PERSID
      if (!ReadLine(s)) return false;
      return Push(NewText(K::kPersId, s));
    }
    case 'Q': {  // BINPERSID
      if (!Pop(a)) return false;
      Value* v = New(K::kPersId);
      v->args = a;
      return Push(v);
    }
    default:
      return Fail(StrCat("invalid opcode 0x", Hex{opcode, 2}));
  }
}

std::optional<uint64_t> Machine::Run(uint64_t pos) {
  pos_ = pos;
  while (!stopped_) {
    if (pos_ >= data_.size()) {
      Fail("truncated: the data ends before STOP");
      break;
    }
    op_ = pos_;
    if (++result_.opcodes > limits_.max_pickle_opcodes) {
      Limit(StrCat("more than max_pickle_opcodes=", limits_.max_pickle_opcodes, " opcodes"));
      break;
    }
    if ((result_.opcodes & 0xFFF) == 0 && std::chrono::steady_clock::now() > deadline_) {
      result_.stop = PickleStop{rules::kTimeout, "pickle analysis ran out of time", op_};
      break;
    }
    uint8_t opcode = static_cast<uint8_t>(data_[pos_++]);
    if (!Step(opcode)) break;
    if (frame_end_ && op_ < frame_end_ && pos_ > frame_end_ && !frame_reported_) {
      frame_reported_ = true;
      result_.events.push_back(PickleEvent{rules::kFrameViolation, Severity::kMedium,
                                           "an opcode straddles the end of its FRAME", op_, ""});
    }
  }
  if (nesting_ == 0) {
    if (dups_ >= kDupFloodThreshold) {
      result_.events.push_back(PickleEvent{rules::kDupFlood, Severity::kMedium,
                                           StrCat(dups_, " DUP opcodes"), result_.start, ""});
    }
    if (gets_ >= kMemoExpansionGets && gets_ > 50 * (puts_ + 1)) {
      result_.events.push_back(PickleEvent{rules::kMemoExpansion, Severity::kMedium,
                                           StrCat(gets_, " memo fetches for ", puts_, " stores"),
                                           result_.start, ""});
    }
  }
  if (!stopped_) return std::nullopt;
  if (nesting_ == 0 && top_result_ && top_result_->kind == K::kInt) {
    result_.int_result = top_result_->big_int || !top_result_->text.empty()
                             ? std::string(top_result_->text)
                             : std::string();
  }
  return pos_;
}

}  // namespace

PickleResult AnalyzePickle(std::string_view data, uint64_t start, const ScanLimits& limits,
                           std::chrono::steady_clock::time_point deadline) {
  PickleResult result;
  result.start = start;
  thread_local ValueArena arena;
  std::optional<uint64_t> end;
  {
    Machine machine(data, limits, deadline, result, arena, 0);
    end = machine.Run(start);
  }
  arena.Reset();
  result.end = end.value_or(result.stop ? result.stop->offset : data.size());
  result.first_opcode_invalid = result.stop && result.stop->offset == start && result.opcodes <= 1;
  return result;
}

}  // namespace gauntlet::scan
