#include "worker/scan/sentencepiece_scanner.h"

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/protobuf_wire.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {
namespace {

// sentencepiece_model.proto: ModelProto fields and SentencePiece fields.
constexpr uint32_t kPieces = 1, kLastModelField = 5;
constexpr uint32_t kPieceText = 1, kPieceScore = 2, kPieceType = 3;

}  // namespace

void SentencePieceScanner::Scan(std::string_view content, ScanContext& ctx) const {
  ctx.LabelFormat("sentencepiece");
  WireReader model(content);
  WireField field;
  uint64_t pieces = 0;
  std::string error;
  while (model.Next(field)) {
    if (field.number > kLastModelField || field.wire_type != 2) {
      error = StrCat("unexpected field ", field.number, " at offset ", field.offset);
      break;
    }
    if (field.number != kPieces) continue;
    WireReader piece(field.bytes, field.offset);
    WireField p;
    while (piece.Next(p)) {
      bool known = (p.number == kPieceText && p.wire_type == 2) ||
                   (p.number == kPieceScore && p.wire_type == 5) ||
                   (p.number == kPieceType && p.wire_type == 0);
      if (!known) {
        error = StrCat("unexpected piece field ", p.number, " at offset ", p.offset);
        break;
      }
    }
    if (error.empty() && !piece.error().empty()) error = piece.error();
    if (!error.empty()) break;
    ++pieces;
  }
  if (error.empty()) error = model.error();
  if (error.empty() && pieces == 0) error = "no vocabulary pieces";
  if (!error.empty()) {
    ctx.ReportIncomplete(rules::kTokenizerMalformed, StrCat("SentencePiece model: ", error), 0);
    return;
  }
  ctx.AddMetadata("sentencepiece.pieces", StrCat(pieces));
}

}  // namespace gauntlet::scan
