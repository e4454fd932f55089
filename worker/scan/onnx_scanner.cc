#include "worker/scan/onnx_scanner.h"

#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/archive_names.h"
#include "worker/scan/protobuf_wire.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {
namespace {

// Field numbers from onnx.proto.
namespace model {
constexpr uint32_t kIrVersion = 1, kProducer = 2, kGraph = 7, kOpset = 8, kFunctions = 25;
}
namespace graph {
constexpr uint32_t kNode = 1, kInitializer = 5, kSparseInitializer = 15;
}
namespace node {
constexpr uint32_t kOpType = 4, kAttribute = 5, kDomain = 7;
}
namespace attribute {
constexpr uint32_t kTensor = 5, kGraph = 6, kTensors = 10, kGraphs = 11, kSparseTensor = 22,
                   kSparseTensors = 23;
}
namespace tensor {
constexpr uint32_t kName = 8, kExternalData = 13, kDataLocation = 14;
}
namespace function {
constexpr uint32_t kNode = 7;
}
constexpr uint32_t kSparseValues = 1, kEntryKey = 1, kEntryValue = 2;
constexpr int kMaxGraphNesting = 32;

bool StandardDomain(std::string_view domain) {
  return domain.empty() || domain == "ai.onnx" || domain == "ai.onnx.ml" ||
         domain == "com.microsoft" || domain == "ai.onnx.training" ||
         domain == "ai.onnx.preview.training" || domain == "com.microsoft.nchwc" ||
         domain == "com.microsoft.experimental";
}

bool PythonOperator(std::string_view op_type) {
  return op_type == "PyOp" || op_type == "PythonOp" || op_type == "PyFunc" ||
         op_type == "PythonOpGrad";
}

class OnnxWalker {
 public:
  OnnxWalker(std::string_view file, ScanContext& ctx) : file_(file), ctx_(ctx) {}

  void Model() {
    WireReader r = Reader(file_);
    WireField f;
    bool has_graph = false, has_opset = false;
    while (r.Next(f)) {
      has_graph = has_graph || (f.number == model::kGraph && f.wire_type == 2);
      has_opset = has_opset || (f.number == model::kOpset && f.wire_type == 2);
      if (f.number == model::kIrVersion && f.wire_type == 0) {
        ctx_.AddMetadata("onnx.ir_version", StrCat(f.varint));
      } else if (f.number == model::kProducer && f.wire_type == 2) {
        ctx_.AddMetadata("onnx.producer", f.bytes);
      } else if (f.number == model::kGraph && f.wire_type == 2) {
        Graph(f.bytes, 0);
      } else if (f.number == model::kOpset && f.wire_type == 2) {
        Opset(f.bytes);
      } else if (f.number == model::kFunctions && f.wire_type == 2) {
        Function(f.bytes);
      }
    }
    Check(r);
    // Both are required by the format; a file cut at a field boundary is
    // still valid protobuf, and only these tell it is not a whole model.
    if (!failed_ && (!has_graph || !has_opset)) {
      failed_ = true;
      ctx_.ReportIncomplete(rules::kOnnxMalformed,
                            has_graph ? "model has no opset_import" : "model has no graph", 0);
    }
  }

 private:
  WireReader Reader(std::string_view message) const {
    return WireReader(message, static_cast<uint64_t>(message.data() - file_.data()));
  }
  void Check(const WireReader& r) {
    if (!r.error().empty() && !failed_) {
      failed_ = true;
      ctx_.ReportIncomplete(rules::kOnnxMalformed, StrCat("protobuf: ", r.error()), 0);
    }
  }

  void Opset(std::string_view message) {
    WireReader r = Reader(message);
    WireField f;
    while (r.Next(f)) {
      if (f.number == 1 && f.wire_type == 2 && !StandardDomain(f.bytes) &&
          reported_domains_.insert(std::string(f.bytes)).second) {
        ctx_.Report(rules::kOnnxCustomOperator, Severity::kMedium,
                    StrCat("model imports custom operator set '", f.bytes, "'"), f.offset,
                    std::string(f.bytes));
      }
    }
    Check(r);
  }

  void Graph(std::string_view message, int nesting) {
    if (nesting > kMaxGraphNesting) {
      ctx_.ReportIncomplete(rules::kLimitExceeded, "ONNX subgraphs nest more than 32 deep", 0);
      return;
    }
    WireReader r = Reader(message);
    WireField f;
    while (r.Next(f)) {
      if (f.wire_type != 2) continue;
      if (f.number == graph::kNode) Node(f.bytes, nesting);
      if (f.number == graph::kInitializer) Tensor(f.bytes);
      if (f.number == graph::kSparseInitializer) SparseTensor(f.bytes);
    }
    Check(r);
  }

  void Function(std::string_view message) {
    WireReader r = Reader(message);
    WireField f;
    while (r.Next(f)) {
      if (f.number == function::kNode && f.wire_type == 2) Node(f.bytes, 0);
    }
    Check(r);
  }

  void Node(std::string_view message, int nesting) {
    WireReader r = Reader(message);
    WireField f;
    std::string_view op_type, domain;
    uint64_t offset = r.base();
    while (r.Next(f)) {
      if (f.wire_type != 2) continue;
      if (f.number == node::kOpType) op_type = f.bytes;
      if (f.number == node::kDomain) domain = f.bytes;
      if (f.number == node::kAttribute) Attribute(f.bytes, nesting);
    }
    Check(r);
    if (PythonOperator(op_type)) {
      ctx_.Report(rules::kOnnxPythonOperator, Severity::kHigh,
                  StrCat("node runs Python operator '", op_type, "'"), offset,
                  StrCat(domain, "::", op_type));
    } else if (!StandardDomain(domain) &&
               reported_ops_.insert(StrCat(domain, "::", op_type)).second) {
      ctx_.Report(rules::kOnnxCustomOperator, Severity::kMedium,
                  StrCat("node uses operator '", op_type, "' from custom domain '", domain, "'"),
                  offset, StrCat(domain, "::", op_type));
    }
  }

  void Attribute(std::string_view message, int nesting) {
    WireReader r = Reader(message);
    WireField f;
    while (r.Next(f)) {
      if (f.wire_type != 2) continue;
      switch (f.number) {
        case attribute::kGraph:
        case attribute::kGraphs:
          Graph(f.bytes, nesting + 1);
          break;
        case attribute::kTensor:
        case attribute::kTensors:
          Tensor(f.bytes);
          break;
        case attribute::kSparseTensor:
        case attribute::kSparseTensors:
          SparseTensor(f.bytes);
          break;
        default:
          break;
      }
    }
    Check(r);
  }

  void SparseTensor(std::string_view message) {
    WireReader r = Reader(message);
    WireField f;
    while (r.Next(f)) {
      if (f.number == kSparseValues && f.wire_type == 2) Tensor(f.bytes);
    }
    Check(r);
  }

  void Tensor(std::string_view message) {
    WireReader r = Reader(message);
    WireField f;
    std::string_view name;
    while (r.Next(f)) {
      if (f.number == tensor::kName && f.wire_type == 2) name = f.bytes;
      if (f.number == tensor::kExternalData && f.wire_type == 2)
        ExternalData(f.bytes, name, f.offset);
    }
    Check(r);
  }

  void ExternalData(std::string_view entry, std::string_view tensor_name, uint64_t offset) {
    WireReader r = Reader(entry);
    WireField f;
    std::string_view key, value;
    while (r.Next(f)) {
      if (f.number == kEntryKey && f.wire_type == 2) key = f.bytes;
      if (f.number == kEntryValue && f.wire_type == 2) value = f.bytes;
    }
    Check(r);
    if (key != "location") return;
    if (ctx_.depth() == 0 && external_locations_.insert(std::string(value)).second) {
      ctx_.AddMetadata("onnx.external_data", value);
    }
    std::string why;
    if (EscapesExtractionRoot(value)) {
      why = "is absolute or climbs out with '..'";
    } else if (auto escape = SymlinkEscape(value)) {
      why = *escape;
    } else {
      return;
    }
    ctx_.Report(rules::kOnnxExternalDataEscape, Severity::kHigh,
                StrCat("external data of tensor '", tensor_name, "' ", why), offset,
                std::string(value));
  }

  // On disk, a location inside the folder can still be a symlink out of it.
  std::optional<std::string> SymlinkEscape(std::string_view location) const {
    if (ctx_.depth() != 0) return std::nullopt;  // Inside an archive: no filesystem.
    return SymlinkOutOfFolder(ctx_.file_path(), location);
  }

  std::string_view file_;
  ScanContext& ctx_;
  bool failed_ = false;
  std::set<std::string> reported_domains_, reported_ops_, external_locations_;
};

}  // namespace

void OnnxScanner::Scan(std::string_view content, ScanContext& ctx) const {
  ctx.LabelFormat("onnx");
  OnnxWalker(content, ctx).Model();
}

}  // namespace gauntlet::scan
