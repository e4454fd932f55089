// TensorFlow SavedModel, GraphDef and Keras metadata protobufs built in code:
// unsafe ops are found in the graph and in the function library, TF's own
// checkpoint ops are not flagged, Keras metadata is analysed as Keras config.
#include <gtest/gtest.h>

#include "common/rules.h"
#include "tests/support/proto_writer.h"
#include "tests/support/scan_assertions.h"

namespace gauntlet {
namespace {

using testing::HasFinding;
using testing::ProtoWriter;

ProtoWriter Node(std::string_view name, std::string_view op) {
  return std::move(ProtoWriter().Bytes(1, name).Bytes(2, op));
}

std::string SavedModel(const ProtoWriter& graph) {
  ProtoWriter meta_graph;
  meta_graph.Message(2, graph);
  return ProtoWriter().Varint(1, 1).Message(2, meta_graph).str();
}

TEST(TfScanner, ReadFileInTheGraphIsHigh) {
  ProtoWriter graph;
  graph.Message(1, Node("x", "Placeholder")).Message(1, Node("leak", "ReadFile"));
  auto report = testing::ScanFixture(SavedModel(graph), "saved_model.pb");
  EXPECT_EQ(report.format, "tf-savedmodel");
  EXPECT_TRUE(
      HasFinding(report, rules::kTfUnsafeOp, Severity::kHigh, Verdict::kMalicious, "ReadFile"));
}

TEST(TfScanner, PyFuncHiddenInTheFunctionLibraryIsCritical) {
  ProtoWriter function;
  function.Message(1, ProtoWriter().Bytes(1, "__inference_call_42"))
      .Message(3, Node("p", "EagerPyFunc"));
  ProtoWriter graph;
  graph.Message(1, Node("x", "Placeholder")).Message(2, ProtoWriter().Message(1, function));
  auto report = testing::ScanFixture(SavedModel(graph), "saved_model.pb");
  EXPECT_TRUE(HasFinding(report, rules::kTfUnsafeOp, Severity::kCritical, Verdict::kMalicious,
                         "__inference_call_42"));
}

TEST(TfScanner, CheckpointOpsOfTheFormatItselfAreNotFlagged) {
  ProtoWriter save_function;
  save_function.Message(1, ProtoWriter().Bytes(1, "__inference__traced_save_99"))
      .Message(3, Node("SaveV2", "SaveV2"))
      .Message(3, Node("MergeV2Checkpoints", "MergeV2Checkpoints"));
  ProtoWriter graph;
  graph.Message(1, Node("save/SaveV2", "SaveV2"))
      .Message(2, ProtoWriter().Message(1, save_function));
  auto report = testing::ScanFixture(SavedModel(graph), "saved_model.pb");
  EXPECT_EQ(report.verdict, Verdict::kClean) << testing::Describe(report);
  // The same op anywhere else writes files for someone else.
  ProtoWriter rogue;
  rogue.Message(1, Node("dump", "SaveV2"));
  EXPECT_TRUE(HasFinding(testing::ScanFixture(SavedModel(rogue), "saved_model.pb"),
                         rules::kTfUnsafeOp, Severity::kMedium, Verdict::kSuspicious, "SaveV2"));
}

TEST(TfScanner, OpOutsideTheStandardSetIsReviewable) {
  ProtoWriter graph;
  graph.Message(1, Node("x", "Placeholder"))
      .Message(1, Node("y", "MatMul"))
      .Message(1, Node("z", "ZzCustomDecrypt"))
      .Message(1, Node("z2", "ZzCustomDecrypt"));
  auto report = testing::ScanFixture(SavedModel(graph), "saved_model.pb");
  EXPECT_TRUE(HasFinding(report, rules::kTfNonStandardOp, Severity::kMedium, Verdict::kSuspicious,
                         "ZzCustomDecrypt"));
  // One finding per distinct op, naming its first use.
  int count = 0;
  for (const auto& finding : report.findings) count += finding.rule_id == rules::kTfNonStandardOp;
  EXPECT_EQ(count, 1) << testing::Describe(report);
}

TEST(TfScanner, StandardOpsAndCallsToLibraryFunctionsAreClean) {
  // TF2 SavedModels call their own functions by name, and the library may
  // come after the caller.
  ProtoWriter function;
  function.Message(1, ProtoWriter().Bytes(1, "__inference_serve_7"))
      .Message(3, Node("r", "ReadVariableOp"))
      .Message(3, Node("m", "BatchMatMulV2"));
  ProtoWriter graph;
  graph.Message(1, Node("x", "Placeholder"))
      .Message(1, Node("v", "VarHandleOp"))
      .Message(1, Node("call", "__inference_serve_7"))
      .Message(1, Node("spc", "StatefulPartitionedCall"))
      .Message(2, ProtoWriter().Message(1, function));
  auto report = testing::ScanFixture(SavedModel(graph), "saved_model.pb");
  EXPECT_EQ(report.verdict, Verdict::kClean) << testing::Describe(report);
}

TEST(TfScanner, BareGraphDef) {
  ProtoWriter graph;
  graph.Message(1, Node("w", "WriteFile"));
  auto report = testing::ScanFixture(graph.str(), "frozen.pb");
  EXPECT_EQ(report.format, "tf-graphdef");
  EXPECT_TRUE(
      HasFinding(report, rules::kTfUnsafeOp, Severity::kHigh, Verdict::kMalicious, "WriteFile"));
}

TEST(TfScanner, KerasMetadataLayerConfigsAreAnalysed) {
  ProtoWriter object;
  object.Varint(1, 3)
      .Bytes(2, "root.layer-1")
      .Bytes(3, "_tf_keras_layer")
      .Bytes(
          4,
          R"({"class_name":"Dense","config":{"activation":{"module":"os","class_name":"function","config":"system"}}})");
  auto report = testing::ScanFixture(ProtoWriter().Message(1, object).str(), "keras_metadata.pb");
  EXPECT_EQ(report.format, "tf-keras-metadata");
  EXPECT_TRUE(HasFinding(report, rules::kKerasDangerousCallable, Severity::kCritical,
                         Verdict::kMalicious, "os.system"));
}

TEST(TfScanner, SavedModelWithoutAGraphIsAnError) {
  auto report = testing::ScanFixture(
      ProtoWriter().Varint(1, 1).Message(2, ProtoWriter().Bytes(1, "x")).str(), "saved_model.pb");
  EXPECT_EQ(report.verdict, Verdict::kError) << testing::Describe(report);
}

}  // namespace
}  // namespace gauntlet
