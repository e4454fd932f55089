// ONNX graphs built in code: custom domains and Python operators are found
// in subgraphs and functions too; external data that leaves the folder is
// HIGH; damaged protobufs are ERROR.
#include <gtest/gtest.h>

#include "common/rules.h"
#include "tests/support/proto_writer.h"
#include "tests/support/scan_assertions.h"

namespace gauntlet {
namespace {

using testing::HasFinding;
using testing::ProtoWriter;

ProtoWriter Node(std::string_view op_type, std::string_view domain = "") {
  ProtoWriter node;
  node.Bytes(1, "x").Bytes(2, "y").Bytes(4, op_type);
  if (!domain.empty()) node.Bytes(7, domain);
  return node;
}

std::string Model(const ProtoWriter& graph, std::string_view extra_domain = "") {
  ProtoWriter model;
  model.Varint(1, 8).Bytes(2, "unit-test").Message(7, graph);
  model.Message(8, ProtoWriter().Bytes(1, "").Varint(2, 17));
  if (!extra_domain.empty()) model.Message(8, ProtoWriter().Bytes(1, extra_domain).Varint(2, 1));
  return model.str();
}

TEST(OnnxScanner, StandardGraphIsClean) {
  auto report = testing::ScanFixture(Model(ProtoWriter().Message(1, Node("Relu"))), "m.onnx");
  EXPECT_EQ(report.verdict, Verdict::kClean) << testing::Describe(report);
  EXPECT_EQ(report.format, "onnx");
}

TEST(OnnxScanner, CustomDomainInsideAnIfSubgraph) {
  ProtoWriter then_branch;
  then_branch.Message(1, Node("Decrypt", "com.evil"));
  ProtoWriter attribute;
  attribute.Bytes(1, "then_branch").Message(6, then_branch);
  ProtoWriter if_node = Node("If");
  if_node.Message(5, attribute);
  auto report = testing::ScanFixture(Model(ProtoWriter().Message(1, if_node)), "m.onnx");
  EXPECT_TRUE(HasFinding(report, rules::kOnnxCustomOperator, Severity::kMedium,
                         Verdict::kSuspicious, "com.evil::Decrypt"));
}

TEST(OnnxScanner, PythonOperatorInAModelFunction) {
  ProtoWriter function;
  function.Bytes(1, "helper").Message(7, Node("PyOp", "ai.onnx.contrib"));
  ProtoWriter model;
  model.Varint(1, 8).Message(7, ProtoWriter().Message(1, Node("Relu"))).Message(25, function);
  auto report = testing::ScanFixture(model.str(), "m.onnx");
  EXPECT_TRUE(
      HasFinding(report, rules::kOnnxPythonOperator, Severity::kHigh, Verdict::kMalicious, "PyOp"));
}

TEST(OnnxScanner, ExternalDataOutsideTheFolder) {
  for (const char* location : {"../../etc/passwd", "/etc/shadow", "C:\\Windows\\win.ini"}) {
    ProtoWriter tensor;
    tensor.Varint(1, 4).Varint(2, 1).Bytes(8, "w");
    tensor.Message(13, ProtoWriter().Bytes(1, "location").Bytes(2, location)).Varint(14, 1);
    auto report = testing::ScanFixture(
        Model(ProtoWriter().Message(1, Node("Relu")).Message(5, tensor)), "m.onnx");
    EXPECT_TRUE(HasFinding(report, rules::kOnnxExternalDataEscape, Severity::kHigh,
                           Verdict::kMalicious, location));
  }
}

TEST(OnnxScanner, EveryTruncationIsAnError) {
  ProtoWriter tensor;
  tensor.Varint(1, 4).Bytes(8, "w").Bytes(9, std::string(16, '\x01'));
  std::string model = Model(ProtoWriter().Message(1, Node("Relu")).Message(5, tensor));
  for (size_t cut = 3; cut < model.size(); ++cut) {
    auto report = testing::ScanFixture(model.substr(0, cut), "m.onnx");
    EXPECT_EQ(report.verdict, Verdict::kError) << "cut at " << cut << testing::Describe(report);
  }
}

}  // namespace
}  // namespace gauntlet
