#include "common/rules.h"

#include <array>

namespace gauntlet {
namespace {

using S = Severity;
constexpr std::array kRules = {
    RuleInfo{
        rules::kDangerousGlobal, S::kCritical, "Pickle imports a dangerous callable",
        "The pickle imports a module or function on the policy denylist. Unpickling it can run "
        "code, touch files or open network connections.",
        "Do not load this file. If the import is legitimate for your models, allow it "
        "explicitly in a policy file."},
    RuleInfo{rules::kUnknownGlobal, S::kMedium, "Pickle imports a callable outside the allowlist",
             "The pickle imports something that is neither on the ML allowlist nor on the "
             "denylist. Unknown imports are how new gadget chains get in, so they need review.",
             "Check what the import does; add it to the policy allowlist if it is benign."},
    RuleInfo{rules::kUnresolvedGlobal, S::kCritical, "Pickle import cannot be resolved statically",
             "STACK_GLOBAL took operands that are not constant strings. Scanners that cannot "
             "resolve an import cannot vouch for it; this is a known evasion.",
             "Treat the file as hostile."},
    RuleInfo{rules::kExtensionCode, S::kCritical, "Pickle uses a copyreg extension code",
             "EXT1/EXT2/EXT4 import a callable through the copyreg extension registry, with no "
             "GLOBAL opcode a scanner can read. Legitimate ML files never use them.",
             "Treat the file as hostile."},
    RuleInfo{rules::kDunderTraversal, S::kCritical, "Pickle walks dunder attributes",
             "A dotted import name walks attributes such as __class__, __base__, __subclasses__ or "
             "__globals__, the classic sandbox escape to reach arbitrary code.",
             "Treat the file as hostile."},
    RuleInfo{rules::kBuildOnGlobal, S::kHigh, "Pickle sets attributes on an imported object",
             "BUILD was applied to a class or function imported by the pickle, which overwrites "
             "attributes of live library objects for later gadgets.",
             "Treat the file as hostile."},
    RuleInfo{rules::kComputedCall, S::kHigh, "Pickle calls a callable computed at load time",
             "The callable of a call (or the function a higher-order function such as "
             "functools.partial or torch's _rebuild_from_type_v2 will call) is not an import "
             "the policy can judge but a value computed while loading, e.g. an attribute "
             "fetched with getattr.",
             "Treat the file as hostile unless its producer is known."},
    RuleInfo{rules::kDiscardedCall, S::kLow, "Pickle discards the result of a call",
             "A call's result is popped and never used: the call exists only for its side effect. "
             "Python's pickler never writes this.",
             "Review the called import."},
    RuleInfo{rules::kMemoExpansion, S::kMedium, "Pickle memo expansion",
             "Many more memo fetches than stores: a billion-laughs style structure that can "
             "exhaust memory when the object is used.",
             "Do not load untrusted files with this shape."},
    RuleInfo{rules::kDupFlood, S::kMedium, "Pickle DUP flood",
             "Thousands of DUP opcodes, which Python's pickler never writes; a resource "
             "exhaustion pattern.",
             "Do not load untrusted files with this shape."},
    RuleInfo{rules::kFrameViolation, S::kMedium, "Pickle frame boundary violated",
             "An opcode straddles a protocol 4/5 FRAME boundary or a frame length lies. CPython's "
             "C unpickler accepts this while strict parsers stop, which hides what follows.",
             "Treat the file as crafted."},
    RuleInfo{rules::kTrailingData, S::kLow, "Data after the last pickle",
             "Bytes follow the final STOP opcode and do not form another pickle.",
             "Review what the extra bytes are."},
    RuleInfo{rules::kEmbeddedPayload, S::kInfo, "Embedded payload decoded and scanned",
             "The pickle carries bytes (possibly base64, zlib or codecs wrapped) that are "
             "themselves a pickle or archive. They were decoded and scanned; see nested findings.",
             "Nested findings carry their own severity."},
    RuleInfo{rules::kPickleParseError, S::kMedium, "Pickle could not be fully parsed",
             "The opcode stream is malformed. Python executes every opcode before the error, so "
             "findings before this point still apply, and the file is not reported clean.",
             "Treat as unverified."},
    RuleInfo{rules::kZipSuspiciousFlags, S::kMedium, "Zip entry has unusual flag bits",
             "General-purpose flag bits 0x1, 0x20 or 0x40 are set. Python's zipfile refuses such "
             "entries while torch loads them, which blinds zipfile-based scanners.",
             "Treat the archive as crafted."},
    RuleInfo{rules::kZipNameMismatch, S::kMedium, "Zip local and central names differ",
             "The local header names a different file than the central directory. Loaders and "
             "scanners disagree about which member is which.",
             "Treat the archive as crafted."},
    RuleInfo{rules::kZipBadCrc, S::kMedium, "Zip entry CRC mismatch",
             "The CRC-32 of a member does not match its header. torch ignores CRCs; zipfile-based "
             "scanners stop.",
             "Treat the archive as crafted."},
    RuleInfo{rules::kZipHiddenEntry, S::kMedium, "Zip entry missing from the central directory",
             "A local entry exists that the central directory does not list. Tools that walk "
             "local headers see it; tools that trust the directory do not.",
             "Treat the archive as crafted."},
    RuleInfo{rules::kZipOverlappingEntries, S::kMedium, "Zip entries overlap",
             "Two entries share bytes, the overlapping-file zip bomb construction.",
             "Do not extract."},
    RuleInfo{rules::kZipNoCentralDirectory, S::kMedium, "Zip central directory missing or broken",
             "The end-of-central-directory record is absent or inconsistent; members were found "
             "by walking local headers.",
             "Treat the archive as damaged or crafted."},
    RuleInfo{rules::kZipPrefixedData, S::kMedium, "Data before the first zip entry",
             "The archive starts with bytes that are not a zip header: a polyglot that different "
             "loaders read differently.",
             "Treat the archive as crafted."},
    RuleInfo{rules::kZipEncrypted, S::kMedium, "Encrypted zip entry",
             "A member is password protected, so its content could not be analysed.",
             "Scan the decrypted content."},
    RuleInfo{rules::kZipUnsupportedMethod, S::kMedium, "Zip compression method not supported",
             "A member uses a compression method Gauntlet cannot decode, so it was not analysed.",
             "Repack the archive with stored or deflate members."},
    RuleInfo{rules::kArchiveMalformed, S::kMedium, "Malformed container",
             "A container structure (zip, tar, npy, compressed stream) is damaged, so part of the "
             "file was not analysed.",
             "Treat as unverified."},
    RuleInfo{rules::kArchivePathTraversal, S::kHigh, "Archive member escapes the extraction folder",
             "A member name is absolute or contains '..' (zip-slip): extracting it writes outside "
             "the target directory.",
             "Do not extract."},
    RuleInfo{rules::kArchiveLinkMember, S::kMedium, "Archive contains a link",
             "A tar member is a symbolic or hard link; extraction can redirect later writes.",
             "Do not extract with a tool that follows links."},
    RuleInfo{rules::kKerasEmbeddedObject, S::kInfo, "Keras layer restores an embedded object",
             "A Keras 3 layer (TorchModuleWrapper) carries another serialized format in its "
             "config and restores it on load (torch.load); the embedded bytes were scanned and "
             "their findings are reported under the layer.",
             "Review the embedded object's findings."},
    RuleInfo{rules::kKerasExternalLoad, S::kHigh, "Keras layer loads files at load time",
             "A layer reads a file named in its config when the model loads (TFSMLayer loads a "
             "SavedModel; lookup layers read a vocabulary path, also gs:// or http://): content "
             "from outside the scanned file.",
             "Ship what the layer needs inside the model, or review the path."},
    RuleInfo{rules::kConfigInstantiation, S::kHigh, "Config instantiates a class or function",
             "A config names a callable to build (Hydra/NeMo `_target_`, LightningCLI "
             "`class_path`); loading the model calls it with the config as arguments. Targets "
             "on the denylist get its severity, targets on no allowlist are HIGH.",
             "Check the target; allow it in the policy's [configs] allowed_targets if it is "
             "your framework's."},
    RuleInfo{rules::kConfigResolverCall, S::kMedium, "Config interpolation calls a resolver",
             "An OmegaConf interpolation `${name:...}` calls the resolver the loading "
             "application registered under that name; resolvers named eval, exec, python or "
             "shell run code (CRITICAL).",
             "Check which resolvers the loading code registers."},
    RuleInfo{rules::kArchiveUnusualMemberType, S::kMedium, "Tar member with an unusual type flag",
             "A tar member's type flag is not a regular file, link, device, directory or "
             "metadata header. GNU tar and Python's tarfile extract such members as regular "
             "files while tools that skip unknown types never look at them; Gauntlet scans its "
             "bytes as a file.",
             "Repack the archive with a standard tar writer."},
    RuleInfo{rules::kNumpyObjectArray, S::kLow, "NumPy object array",
             "The .npy holds an object dtype, which np.load(allow_pickle=True) unpickles. The "
             "embedded pickle was scanned.",
             "Prefer numeric dtypes; never set allow_pickle for untrusted files."},
    RuleInfo{rules::kTorchScript, S::kInfo, "TorchScript archive",
             "The file is a TorchScript archive; its pickles were scanned. Its code/ directory "
             "runs as TorchScript when the module is called.",
             "Load TorchScript only from trusted publishers."},
    RuleInfo{rules::kTorchLegacy, S::kInfo, "Legacy PyTorch serialization",
             "The file uses torch's pre-1.6 stacked-pickle format. Its pickles were scanned; the "
             "tensor data after them was not read.",
             "Prefer safetensors."},
    RuleInfo{rules::kSafetensorsInvalid, S::kMedium, "Invalid safetensors header",
             "The safetensors header breaks the format's rules (size, JSON, duplicate keys, "
             "dtypes, shapes, or offsets that leave gaps, overlap or miss the data). Strict "
             "loaders refuse it; lenient ones may read it differently.",
             "Regenerate the file with the safetensors library."},
    RuleInfo{rules::kGgufMalformed, S::kMedium, "Malformed GGUF file",
             "The GGUF header, metadata or tensor table is inconsistent with the file (counts, "
             "lengths, types or offsets), so it was not fully analysed.",
             "Regenerate the file with llama.cpp's tools."},
    RuleInfo{rules::kGgufTemplateInjection, S::kCritical, "Jinja template injection in GGUF",
             "A chat template (or another template-valued metadata string) reaches Python "
             "internals such as __class__, __globals__ or __subclasses__, or calls os/subprocess: "
             "rendering it runs code (CVE-2024-34359).",
             "Do not load this model with a Jinja-rendering runtime; replace the template."},
    RuleInfo{rules::kOnnxMalformed, S::kMedium, "Malformed ONNX model",
             "The ONNX protobuf could not be parsed, so the graph was not fully analysed.",
             "Re-export the model with the onnx library."},
    RuleInfo{rules::kOnnxCustomOperator, S::kMedium, "ONNX custom operator domain",
             "A node uses an operator domain outside the standard ONNX and onnxruntime ones. "
             "Running it requires loading a native custom-op library, which is arbitrary code.",
             "Review where the custom-op library comes from before running the model."},
    RuleInfo{rules::kOnnxPythonOperator, S::kHigh, "ONNX Python operator",
             "A node runs a Python callable (PyOp/PythonOp), which executes whatever code the "
             "runtime maps it to.",
             "Do not run the model with Python custom ops enabled."},
    RuleInfo{rules::kOnnxExternalDataEscape, S::kHigh,
             "ONNX external data escapes the model folder",
             "A tensor's external data location is absolute, climbs out with '..', or is a "
             "symlink that leaves the model folder: loading reads arbitrary files "
             "(CVE-2022-25882, CVE-2024-27318).",
             "Do not load the model; external data must live beside it."},
    RuleInfo{rules::kKerasLambda, S::kMedium, "Keras Lambda layer",
             "A Lambda layer carries Python bytecode that runs when the model is loaded or "
             "called. Its names were decoded: HIGH or CRITICAL when they reach the OS, files, "
             "eval or imports; MEDIUM for plain arithmetic.",
             "Rewrite Lambda layers as registered custom layers; never load untrusted ones."},
    RuleInfo{rules::kKerasDangerousCallable, S::kCritical,
             "Keras config references a dangerous callable",
             "A serialized function reference ({module, class_name: function, config}) names a "
             "denied callable such as os.system: deserializing the config calls it "
             "(CVE-2025-1550).",
             "Do not load the model."},
    RuleInfo{rules::kKerasCustomObject, S::kMedium, "Keras custom object from an unknown module",
             "The config deserializes a class or function from a module outside Keras and "
             "TensorFlow; loading imports that module.",
             "Check the module is yours and trusted."},
    RuleInfo{rules::kKerasTfOpLambda, S::kMedium, "Keras TFOpLambda layer",
             "A TFOpLambda layer calls a TensorFlow op by name; file and Python ops make it "
             "HIGH.",
             "Review the op it calls."},
    RuleInfo{rules::kKerasMalformed, S::kMedium, "Malformed Keras model config",
             "The model config is not valid JSON or a Lambda's code cannot be decoded, so the "
             "model was not fully analysed.",
             "Re-save the model with Keras."},
    RuleInfo{rules::kTfUnsafeOp, S::kHigh, "TensorFlow graph uses an unsafe op",
             "A node in the graph or its function library reads or writes files (ReadFile, "
             "WriteFile, Save ops outside TensorFlow's own checkpoint functions) or runs Python "
             "(PyFunc, EagerPyFunc), which executes when the graph runs.",
             "Do not serve the model; inspect where the op's inputs come from."},
    RuleInfo{rules::kTfNonStandardOp, S::kMedium,
             "TensorFlow graph uses an op outside the standard set",
             "A node in the graph or its function library runs an op that stock TensorFlow does "
             "not register. It only runs if the loader first loads a custom op library, native "
             "code this scan cannot see.",
             "Find the op library the model needs and review it before loading the model."},
    RuleInfo{rules::kTfMalformed, S::kMedium, "Malformed TensorFlow protobuf",
             "The SavedModel, GraphDef or Keras metadata protobuf could not be parsed, so it "
             "was not fully analysed.",
             "Re-export the model with TensorFlow."},
    RuleInfo{rules::kSignatureMatch, S::kHigh, "Known malicious pattern (YARA)",
             "A YARA signature rule matched strings decoded from a pickle or template, or the raw "
             "bytes of content no scanner recognises: reverse shells, download-and-execute, "
             "credential theft, miners, or the user's own rules. The rule's meta.severity sets "
             "the severity.",
             "Inspect the matched content; treat the file as hostile."},
    RuleInfo{rules::kTokenizerMalformed, S::kMedium, "Malformed tokenizer model",
             "A SentencePiece tokenizer.model could not be parsed, so it was not fully analysed.",
             "Regenerate the tokenizer with sentencepiece."},
    RuleInfo{rules::kUnapprovedFormat, S::kHigh, "Model file format not approved",
             "The registry policy approves only some serialization formats (for example "
             "safetensors, GGUF and ONNX); this file is in another.",
             "Convert the model to an approved format."},
    RuleInfo{rules::kLicenseNotAllowed, S::kHigh, "Model license not allowed",
             "The license in the model card's front matter or LICENSE file is not on the "
             "policy's SPDX allowlist.",
             "Choose a model under an allowed license, or extend the allowlist."},
    RuleInfo{rules::kLicenseMissing, S::kHigh, "Model license unknown",
             "The policy requires an allowed license, and neither README.md front matter nor a "
             "LICENSE file names one.",
             "Add a license to the model card."},
    RuleInfo{rules::kPublisherNotAllowed, S::kHigh, "Model publisher not allowed",
             "The model's publisher (from the Hugging Face cache layout or --publisher) is not on "
             "the policy's allowlist.",
             "Use a model from an approved publisher."},
    RuleInfo{rules::kPublisherUnknown, S::kHigh, "Model publisher unknown",
             "The policy requires an approved publisher, and none could be determined: the path "
             "is not a Hugging Face cache snapshot and no --publisher was given.",
             "Pass --publisher ORG, or scan from the Hugging Face cache."},
    RuleInfo{rules::kSignatureMissing, S::kHigh, "Model folder not signed",
             "Signatures are required (--verify-signature) and the folder has no model.sig, so "
             "nothing shows that its files are the ones the publisher released.",
             "Get the signed release, or sign it where it is produced (gauntlet sign)."},
    RuleInfo{rules::kSignatureInvalid, S::kCritical, "Model signature invalid",
             "model.sig does not verify with the trusted key: it was changed after signing, made "
             "with another key, or is malformed.",
             "Treat the folder as tampered with; fetch it again from the publisher."},
    RuleInfo{rules::kSignedFileModified, S::kCritical, "Model file changed since signing",
             "A file differs from the signed manifest, or was added or removed after signing: "
             "weights or code were replaced after release.",
             "Treat the folder as tampered with; fetch it again from the publisher."},
    RuleInfo{rules::kAdapterConfigMismatch, S::kHigh, "Adapter differs from its config",
             "The LoRA weights disagree with adapter_config.json: a rank other than r, a module "
             "outside target_modules, a listed target without weights, mixed dtypes.",
             "Regenerate the adapter, or treat its config as untrustworthy."},
    RuleInfo{rules::kAdapterUnexpectedTensor, S::kHigh, "Full tensor in a LoRA adapter",
             "The adapter carries a tensor that is not a LoRA factor: it replaces base weights "
             "outright when loaded (MEDIUM when modules_to_save declares it).",
             "Check why the adapter ships full weights; prefer adapters without them."},
    RuleInfo{rules::kAdapterShapeMismatch, S::kHigh, "Adapter does not fit",
             "LoRA factors that do not multiply, a factor without its pair, or an update whose "
             "shape differs from the base weight it targets.",
             "Use the adapter with the base it was trained for."},
    RuleInfo{rules::kAdapterConcentratedUpdate, S::kLow, "Adapter update concentrated",
             "One module carries most of the adapter's update: targeted edits of a layer look "
             "like this, ordinary fine-tuning spreads the change.",
             "Run the A/B test on the adapter."},
    RuleInfo{rules::kWeightsNonFinite, S::kHigh, "NaN or infinite weights",
             "The tensor holds NaN or infinite values: the model's outputs break when they are "
             "used.",
             "Do not deploy; find where the values came from."},
    RuleInfo{rules::kWeightsIndexInconsistent, S::kHigh, "Checkpoint index inconsistent",
             "model.safetensors.index.json and the shards disagree: missing shards, tensors in "
             "the wrong shard or in two, or shards the index ignores.",
             "Re-export the checkpoint."},
    RuleInfo{rules::kWeightsLayoutChanged, S::kMedium, "Tensor added, removed or reshaped",
             "Against the reference checkpoint a tensor was added, removed, or changed shape or "
             "dtype.",
             "Check that the change was intended."},
    RuleInfo{rules::kExtensionMismatch, S::kMedium, "File content does not match its name",
             "The file name promises one format but the bytes are another, e.g. a pickle named "
             ".safetensors. Tools that trust names skip it.",
             "Treat the file as crafted."},
    RuleInfo{rules::kUnrecognizedFormat, S::kMedium, "Unrecognized binary format",
             "No scanner recognises this content. Gauntlet checked only that it does not execute "
             "as a pickle, so it is not reported clean.",
             "Lower this rule's severity in the policy if such files are expected."},
    RuleInfo{rules::kUnsupportedFormat, S::kMedium, "Format recognised but not analysed",
             "The content was identified, but this build has no scanner for it.",
             "Treat as unverified."},
    RuleInfo{rules::kLimitExceeded, S::kMedium, "Scan limit exceeded",
             "A size, depth, count or expansion limit was hit, so analysis stopped early. A limit "
             "hit is never a pass.",
             "Raise the limit in the policy if the file is expected to be this large."},
    RuleInfo{rules::kTimeout, S::kMedium, "Scan timed out",
             "The per-file time budget ran out before analysis finished.",
             "Raise limits.timeout_seconds in the policy, or treat as unverified."},
    RuleInfo{rules::kNotRegularFile, S::kMedium, "Not a regular file",
             "The path is a FIFO, socket, device or directory, or a symlink loop: it is never "
             "opened for reading (a FIFO would hang the scan), so it was not analysed.",
             "Remove it from the model folder, or scan the file it stands for."},
    RuleInfo{rules::kReadError, S::kMedium, "File could not be read",
             "The file could not be opened or read.", "Check permissions and the path."},
    RuleInfo{rules::kSandboxTimeout, S::kMedium, "Parser ran past its time limit",
             "The cluster worker's sandboxed parser did not finish within its wall-clock limit "
             "and was killed, so the file was not fully analysed.",
             "Raise [limits] timeout_seconds if the file is just large; otherwise treat the file "
             "as hostile (parser denial of service)."},
    RuleInfo{rules::kSandboxCrash, S::kMedium, "Parser crashed",
             "The sandboxed parser process died on a signal while reading the file, so it was not "
             "fully analysed. Malformed files built to exploit parsers do this.",
             "Do not load the file; report the crash with the file to the Gauntlet team."},
    RuleInfo{rules::kSandboxMemory, S::kMedium, "Parser ran out of memory",
             "The sandboxed parser hit its address-space limit on this file.",
             "Treat the file as a decompression or allocation bomb unless it is known to be "
             "huge."},
    RuleInfo{rules::kSandboxViolation, S::kHigh, "Parser attempted a forbidden system call",
             "While parsing the file the sandboxed parser tried a system call outside its "
             "allowlist (open, socket, exec...): a parser exploit in progress, or a bug.",
             "Quarantine the file and report it."},
    RuleInfo{rules::kClusterDeadLettered, S::kMedium, "File was not scanned (dead-lettered)",
             "Every attempt to scan the file failed (worker lost, I/O errors), so the cluster "
             "gave up after the attempt cap; the last error is in the evidence.",
             "Fix the cause in the evidence and submit the file again."},
};

}  // namespace

std::span<const RuleInfo> AllRules() { return kRules; }

const RuleInfo* FindRule(std::string_view id) {
  for (const RuleInfo& rule : kRules) {
    if (rule.id == id) return &rule;
  }
  return nullptr;
}

}  // namespace gauntlet
