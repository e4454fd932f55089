// The catalog of every rule Gauntlet can report: its stable id, default
// severity and the descriptions SARIF consumers show. Scanners name rules by
// these constants so a typo is a compile error, not a new rule.
#ifndef GAUNTLET_COMMON_RULES_H_
#define GAUNTLET_COMMON_RULES_H_

#include <span>
#include <string_view>

#include "common/severity.h"

namespace gauntlet {

struct RuleInfo {
  std::string_view id;
  Severity default_severity;
  std::string_view short_description;
  std::string_view full_description;
  std::string_view help;
};

namespace rules {
// Pickle stream.
inline constexpr std::string_view kDangerousGlobal = "pickle.dangerous_global";
inline constexpr std::string_view kUnknownGlobal = "pickle.unknown_global";
inline constexpr std::string_view kUnresolvedGlobal = "pickle.unresolved_global";
inline constexpr std::string_view kExtensionCode = "pickle.extension_code";
inline constexpr std::string_view kDunderTraversal = "pickle.dunder_traversal";
inline constexpr std::string_view kBuildOnGlobal = "pickle.build_on_global";
inline constexpr std::string_view kComputedCall = "pickle.computed_call";
inline constexpr std::string_view kDiscardedCall = "pickle.discarded_call";
inline constexpr std::string_view kMemoExpansion = "pickle.memo_expansion";
inline constexpr std::string_view kDupFlood = "pickle.dup_flood";
inline constexpr std::string_view kFrameViolation = "pickle.frame_violation";
inline constexpr std::string_view kTrailingData = "pickle.trailing_data";
inline constexpr std::string_view kEmbeddedPayload = "pickle.embedded_payload";
inline constexpr std::string_view kPickleParseError = "pickle.parse_error";
// Containers.
inline constexpr std::string_view kZipSuspiciousFlags = "zip.suspicious_flags";
inline constexpr std::string_view kZipNameMismatch = "zip.name_mismatch";
inline constexpr std::string_view kZipBadCrc = "zip.bad_crc";
inline constexpr std::string_view kZipHiddenEntry = "zip.hidden_entry";
inline constexpr std::string_view kZipOverlappingEntries = "zip.overlapping_entries";
inline constexpr std::string_view kZipNoCentralDirectory = "zip.missing_central_directory";
inline constexpr std::string_view kZipPrefixedData = "zip.prefixed_data";
inline constexpr std::string_view kZipEncrypted = "zip.encrypted_entry";
inline constexpr std::string_view kZipUnsupportedMethod = "zip.unsupported_method";
inline constexpr std::string_view kArchiveMalformed = "archive.malformed";
inline constexpr std::string_view kArchivePathTraversal = "archive.path_traversal";
inline constexpr std::string_view kArchiveLinkMember = "archive.link_member";
inline constexpr std::string_view kArchiveUnusualMemberType = "archive.unusual_member_type";
inline constexpr std::string_view kNumpyObjectArray = "numpy.object_array";
inline constexpr std::string_view kTorchScript = "torch.torchscript";
inline constexpr std::string_view kTorchLegacy = "torch.legacy_format";
// Other model formats.
inline constexpr std::string_view kSafetensorsInvalid = "safetensors.invalid_header";
inline constexpr std::string_view kGgufMalformed = "gguf.malformed";
inline constexpr std::string_view kGgufTemplateInjection = "gguf.template_injection";
inline constexpr std::string_view kOnnxMalformed = "onnx.malformed";
inline constexpr std::string_view kOnnxCustomOperator = "onnx.custom_operator";
inline constexpr std::string_view kOnnxPythonOperator = "onnx.python_operator";
inline constexpr std::string_view kOnnxExternalDataEscape = "onnx.external_data_escape";
inline constexpr std::string_view kKerasLambda = "keras.lambda_layer";
inline constexpr std::string_view kKerasDangerousCallable = "keras.dangerous_callable";
inline constexpr std::string_view kKerasCustomObject = "keras.custom_object";
inline constexpr std::string_view kKerasTfOpLambda = "keras.tf_op_lambda";
inline constexpr std::string_view kKerasMalformed = "keras.malformed";
inline constexpr std::string_view kKerasEmbeddedObject = "keras.embedded_object";
inline constexpr std::string_view kKerasExternalLoad = "keras.external_load";
inline constexpr std::string_view kTfUnsafeOp = "tf.unsafe_op";
inline constexpr std::string_view kTfMalformed = "tf.malformed";
inline constexpr std::string_view kTfNonStandardOp = "tf.non_standard_op";
inline constexpr std::string_view kSignatureMatch = "signature.match";
inline constexpr std::string_view kConfigInstantiation = "config.instantiation_target";
inline constexpr std::string_view kConfigResolverCall = "config.resolver_call";
inline constexpr std::string_view kTokenizerMalformed = "tokenizer.malformed";
// Registry gate (whole models).
inline constexpr std::string_view kUnapprovedFormat = "policy.unapproved_format";
inline constexpr std::string_view kLicenseNotAllowed = "policy.license_not_allowed";
inline constexpr std::string_view kLicenseMissing = "policy.license_missing";
inline constexpr std::string_view kPublisherNotAllowed = "policy.publisher_not_allowed";
inline constexpr std::string_view kPublisherUnknown = "policy.publisher_unknown";
// Tamper evidence (`scan --verify-signature`, whole model folders).
inline constexpr std::string_view kSignatureMissing = "integrity.signature_missing";
inline constexpr std::string_view kSignatureInvalid = "integrity.signature_invalid";
inline constexpr std::string_view kSignedFileModified = "integrity.file_modified";
// Adapter and weight forensics (`inspect adapter`, `inspect checkpoint`).
inline constexpr std::string_view kAdapterConfigMismatch = "adapter.config_mismatch";
inline constexpr std::string_view kAdapterUnexpectedTensor = "adapter.unexpected_tensor";
inline constexpr std::string_view kAdapterShapeMismatch = "adapter.shape_mismatch";
inline constexpr std::string_view kAdapterConcentratedUpdate = "adapter.concentrated_update";
inline constexpr std::string_view kWeightsNonFinite = "weights.non_finite";
inline constexpr std::string_view kWeightsIndexInconsistent = "weights.index_inconsistent";
inline constexpr std::string_view kWeightsLayoutChanged = "weights.layout_changed";
// Whole-file.
inline constexpr std::string_view kExtensionMismatch = "format.extension_mismatch";
inline constexpr std::string_view kUnrecognizedFormat = "format.unrecognized";
inline constexpr std::string_view kUnsupportedFormat = "format.unsupported";
inline constexpr std::string_view kLimitExceeded = "scan.limit_exceeded";
inline constexpr std::string_view kTimeout = "scan.timeout";
inline constexpr std::string_view kReadError = "scan.read_error";
inline constexpr std::string_view kNotRegularFile = "scan.not_regular_file";
inline constexpr std::string_view kSandboxTimeout = "sandbox.timeout";
inline constexpr std::string_view kSandboxCrash = "sandbox.crash";
inline constexpr std::string_view kSandboxMemory = "sandbox.memory_limit";
inline constexpr std::string_view kSandboxViolation = "sandbox.violation";
inline constexpr std::string_view kClusterDeadLettered = "cluster.dead_lettered";
}  // namespace rules

std::span<const RuleInfo> AllRules();

// nullptr for an id that is not in the catalog.
const RuleInfo* FindRule(std::string_view id);

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_RULES_H_
