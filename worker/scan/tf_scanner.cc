#include "worker/scan/tf_scanner.h"

#include <map>
#include <set>

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/keras_config.h"
#include "worker/scan/protobuf_wire.h"
#include "worker/scan/scan_context.h"
#include "worker/scan/tf_standard_ops.h"

namespace gauntlet::scan {
namespace {

// Field numbers from TensorFlow's saved_model.proto, meta_graph.proto,
// graph.proto, node_def.proto, function.proto and saved_metadata.proto.
constexpr uint32_t kSavedModelMetaGraphs = 2, kMetaGraphGraphDef = 2;
constexpr uint32_t kGraphNode = 1, kGraphLibrary = 2, kLibraryFunction = 1;
constexpr uint32_t kFunctionSignature = 1, kFunctionNodeDef = 3, kOpDefName = 1;
constexpr uint32_t kNodeName = 1, kNodeOp = 2;
constexpr uint32_t kKerasMetadataNodes = 1, kSavedObjectMetadata = 4;
constexpr size_t kMaxListedOps = 300;

// Ops that touch the filesystem or run Python when the graph executes.
const std::map<std::string_view, Severity>& UnsafeOps() {
  static const std::map<std::string_view, Severity> kOps = {
      {"ReadFile", Severity::kHigh},        {"WriteFile", Severity::kHigh},
      {"PyFunc", Severity::kCritical},      {"PyFuncStateless", Severity::kCritical},
      {"EagerPyFunc", Severity::kCritical}, {"ShellExecute", Severity::kCritical},
      {"Save", Severity::kMedium},          {"SaveV2", Severity::kMedium},
      {"SaveSlices", Severity::kMedium},    {"MergeV2Checkpoints", Severity::kMedium},
      {"MatchingFiles", Severity::kMedium}, {"DeleteFile", Severity::kHigh},
  };
  return kOps;
}

// Every SavedModel carries TensorFlow's own checkpoint writer: Save ops in
// the `save/` scope (TF1 Saver) or in the traced save/restore functions
// (TF2). Those are the format working, not an attack.
bool InCheckpointMachinery(std::string_view node_name, std::string_view function_name) {
  return StartsWith(node_name, "save/") || StartsWith(node_name, "save_") ||
         StartsWith(function_name, "__inference__traced_save") ||
         StartsWith(function_name, "__inference__traced_restore");
}

class TfWalker {
 public:
  TfWalker(std::string_view file, ScanContext& ctx) : file_(file), ctx_(ctx) {}

  void SavedModel() {
    bool has_graph = false;
    ForEach(file_, kSavedModelMetaGraphs, [&](std::string_view meta_graph) {
      ForEach(meta_graph, kMetaGraphGraphDef, [&](std::string_view graph) {
        has_graph = true;
        GraphDef(graph);
      });
    });
    if (!has_graph && !failed_) {
      failed_ = true;
      ctx_.ReportIncomplete(rules::kTfMalformed, "SavedModel has no meta graph with a graph", 0);
    }
  }

  void GraphDef(std::string_view graph) {
    ForEach(graph, kGraphNode, [&](std::string_view node) { Node(node, ""); });
    ForEach(graph, kGraphLibrary, [&](std::string_view library) {
      ForEach(library, kLibraryFunction, [&](std::string_view function) {
        std::string_view name;
        ForEach(function, kFunctionSignature,
                [&](std::string_view signature) { name = StringField(signature, kOpDefName); });
        library_functions_.insert(std::string(name));
        ForEach(function, kFunctionNodeDef, [&](std::string_view node) { Node(node, name); });
      });
    });
  }

  void KerasMetadata() {
    ForEach(file_, kKerasMetadataNodes, [&](std::string_view node) {
      std::string_view json = StringField(node, kSavedObjectMetadata);
      if (!json.empty()) AnalyzeKerasConfig(json, ctx_);
    });
  }

  // Runs after the whole file: a node may call a library function by name,
  // and the library can come after the nodes that call it.
  void Finish() {
    for (const auto& [op, first_use] : non_standard_ops_) {
      if (library_functions_.count(op) > 0) continue;
      ctx_.Report(rules::kTfNonStandardOp, Severity::kMedium,
                  StrCat(first_use.where, " runs op '", op,
                         "', which stock TensorFlow does not define (custom op library needed)"),
                  first_use.offset, op);
    }
    if (!failed_ && !ops_.empty()) ctx_.AddMetadata("tf.ops", StrJoin(ops_, ","));
  }

 private:
  template <typename Fn>
  void ForEach(std::string_view message, uint32_t field, Fn&& fn) {
    WireReader r(message, static_cast<uint64_t>(message.data() - file_.data()));
    WireField f;
    while (r.Next(f)) {
      if (f.number == field && f.wire_type == 2) fn(f.bytes);
    }
    if (!r.error().empty() && !failed_) {
      failed_ = true;
      ctx_.ReportIncomplete(rules::kTfMalformed, StrCat("protobuf: ", r.error()), 0);
    }
  }

  std::string_view StringField(std::string_view message, uint32_t field) {
    std::string_view value;
    ForEach(message, field, [&](std::string_view bytes) { value = bytes; });
    return value;
  }

  void Node(std::string_view node, std::string_view function) {
    std::string_view name = StringField(node, kNodeName);
    std::string_view op = StringField(node, kNodeOp);
    if (op.empty()) return;
    if (ops_.size() < kMaxListedOps) ops_.insert(std::string(op));
    auto where = [&] {
      return StrCat("node '", name, "'",
                    function.empty() ? "" : StrCat(" in function '", function, "'"));
    };
    uint64_t offset = static_cast<uint64_t>(node.data() - file_.data());
    auto unsafe = UnsafeOps().find(op);
    if (unsafe == UnsafeOps().end()) {
      if (!IsStandardTfOp(op) && non_standard_ops_.size() < kMaxListedOps &&
          non_standard_ops_.count(op) == 0)
        non_standard_ops_.emplace(std::string(op), OpUse{where(), offset});
      return;
    }
    if (unsafe->second == Severity::kMedium && InCheckpointMachinery(name, function)) return;
    ctx_.Report(rules::kTfUnsafeOp, unsafe->second, StrCat(where(), " runs ", op), offset,
                std::string(op));
  }

  struct OpUse {
    std::string where;
    uint64_t offset;
  };

  std::string_view file_;
  ScanContext& ctx_;
  bool failed_ = false;
  std::set<std::string> ops_;
  std::map<std::string, OpUse, std::less<>> non_standard_ops_;  // op -> its first use
  std::set<std::string, std::less<>> library_functions_;
};

}  // namespace

void TfScanner::Scan(std::string_view content, ScanContext& ctx) const {
  TfWalker walker(content, ctx);
  switch (SniffFormat(content.substr(0, 4096))) {
    case Format::kTfSavedModel:
      ctx.LabelFormat("tf-savedmodel");
      walker.SavedModel();
      break;
    case Format::kTfGraphDef:
      ctx.LabelFormat("tf-graphdef");
      walker.GraphDef(content);
      break;
    default:
      ctx.LabelFormat("tf-keras-metadata");
      walker.KerasMetadata();
      break;
  }
  walker.Finish();
}

}  // namespace gauntlet::scan
