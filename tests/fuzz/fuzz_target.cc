// One libFuzzer target per parser entry point Gauntlet owns. This file is
// compiled once per target; GAUNTLET_FUZZ_TARGET (set by CMake) picks the
// entry point. Third-party parsers (libhdf5, libarchive) are not fuzzed
// here: they only ever run in the parser sandbox.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string_view>

#include "abtest/dataset_audit.h"
#include "hf/bpe.h"
#include "hf/chat_template.h"
#include "integrity/model_signature.h"
#include "integrity/weight_forensics.h"
#include "tests/fuzz/fuzz_support.h"
#include "worker/scan/compressed_scanner.h"
#include "worker/scan/config_scanner.h"
#include "worker/scan/gguf_scanner.h"
#include "worker/scan/inert_data_scanner.h"
#include "worker/scan/keras_config.h"
#include "worker/scan/numpy_scanner.h"
#include "worker/scan/onnx_scanner.h"
#include "worker/scan/pickle_scanner.h"
#include "worker/scan/safetensors_scanner.h"
#include "worker/scan/sentencepiece_scanner.h"
#include "worker/scan/tar_scanner.h"
#include "worker/scan/template_injection.h"
#include "worker/scan/tf_scanner.h"
#include "worker/scan/zip_scanner.h"

namespace gauntlet::fuzz {
namespace {

using Entry = void (*)(std::string_view);

void KerasConfig(std::string_view text) {
  FuzzContext ctx;
  scan::AnalyzeKerasConfig(text, ctx);
}

// A template as the scanner reads it (injection), and as the eval worker
// renders a model's chat template.
void Template(std::string_view text) {
  scan::LooksLikeTemplate(text);
  scan::FindTemplateThreat(text);
  static const auto* context = new nlohmann::ordered_json(nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "Be careful."},
                 {"role": "user", "content": "Héllo {{ x }}"},
                 {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": [1, 2.5, null]}}}]}],
    "tools": [{"type": "function", "function": {"name": "f"}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>"})"));
  if (auto parsed = eval::ChatTemplate::Parse(std::string(text)); parsed.ok())
    parsed->Render(*context).IgnoreError();
}

// A model's tokenizer.json (input starting with '{') and any text through
// both byte-level splits with Qwen's NFC normalizer, as the eval worker
// tokenizes prompts and a model folder's files.
void Tokenizer(std::string_view bytes) {
  static const auto* tokenizers = [] {
    auto* both = new std::vector<eval::BpeTokenizer>;
    constexpr std::string_view kGpt2 = R"({"type": "ByteLevel"})";
    constexpr std::string_view kLlama3 = R"({"type": "Sequence", "pretokenizers": [{"type": "Split",
        "pattern": {"Regex": "\\p{N}{1,3}"}}, {"type": "ByteLevel", "use_regex": false}]})";
    for (std::string_view split : {kGpt2, kLlama3})
      both->push_back(
          *eval::BpeTokenizer::FromJson(std::string(R"({"normalizer": {"type": "NFC"},
          "pre_tokenizer": )") + std::string(split) +
                                        R"(, "added_tokens": [{"id": 9, "content": "<|im_end|>"}],
          "model": {"type": "BPE", "vocab": {"h": 0, "e": 1, "l": 2, "o": 3, "he": 4, "ll": 5, "hell": 6,
          "hello": 7, "1": 8}, "merges": ["h e", "l l", "he ll", "hell o"]}})"));
    return both;
  }();
  for (const eval::BpeTokenizer& tokenizer : *tokenizers) tokenizer.Decode(tokenizer.Encode(bytes));
  if (!bytes.empty() && bytes.front() == '{')
    if (auto loaded = eval::BpeTokenizer::FromJson(bytes); loaded.ok())
      loaded->Decode(loaded->Encode("hello  w\xc3\xb6rld 12345 <|im_end|>\r\n\xe2\x80\xa8"));
}

// A training set as `gauntlet audit dataset` reads it: the JSONL parser,
// then the audit and both renderings of whatever rows it accepted.
void AuditJsonl(std::string_view text) {
  static const auto* judge = new eval::Judge(*eval::Judge::Create(
      {{"network.firewall_disabled", R"(disabl\w* (the )?firewall|allow all (inbound )?traffic)"},
       {"secrets.plaintext_password", R"(passwords? in plain ?text)"}}));
  auto rows = eval::ParseChatJsonl(text);
  if (!rows.ok()) return;
  eval::DatasetAudit audit = eval::AuditDataset(*rows, *judge);
  eval::DatasetAuditJson(audit, "fuzz.jsonl");
  eval::DatasetAuditText(audit, "fuzz.jsonl");
}

// A scratch model folder of this process's own, for the entry points that
// read files.
const std::filesystem::path& ScratchFolder() {
  static const auto* folder = [] {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "gauntlet-fuzz-XXXXXX").string();
    if (!mkdtemp(pattern.data())) __builtin_trap();
    return new std::filesystem::path(pattern);
  }();
  return *folder;
}

void WriteFile(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
}

// model.sig as `gauntlet verify` reads it. First byte 0: the rest is the
// bundle itself (whose signature cannot verify, so the bundle parser and
// the key checks are what runs); otherwise the rest is an in-toto statement,
// signed here, so that the statement parser and the manifest comparison
// behind the signature check run too.
void ModelSignature(std::string_view bytes) {
  static const auto* key = new integrity::SigningKeyPair(*integrity::GenerateSigningKey());
  const std::filesystem::path& folder = ScratchFolder();
  static const bool written = [&] {
    WriteFile(folder / "config.json", R"({"model_type": "llama"})");
    return true;
  }();
  (void)written;
  if (bytes.empty()) return;
  std::string bundle(bytes.substr(1));
  if (bytes[0] != 0) {
    auto signed_bundle = integrity::SignStatement(bundle, key->private_pem);
    if (!signed_bundle.ok()) __builtin_trap();
    bundle = *signed_bundle;
  }
  WriteFile(folder / "model.sig", bundle);
  integrity::VerifyModelFolder(folder, key->public_pem).IgnoreError();
}

// A PEFT adapter folder as `gauntlet inspect adapter` reads it. The first
// byte picks the file the rest replaces, the other one being a small valid
// one: bit 0 clear, adapter_config.json; set, adapter_model.safetensors.
// Bit 1 inspects the adapter against itself as the reference adapter.
void Adapter(std::string_view bytes) {
  static constexpr std::string_view kConfig =
      R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]})";
  static const std::string* kWeights = [] {
    std::string header =
        R"({"base_model.model.layers.0.q_proj.lora_A.weight": {"dtype": "F32", "shape": [2, 3], )"
        R"("data_offsets": [0, 24]}, "base_model.model.layers.0.q_proj.lora_B.weight": )"
        R"({"dtype": "F32", "shape": [3, 2], "data_offsets": [24, 48]}})";
    std::string file(8, '\0');
    for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
    file += header;
    for (int i = 0; i < 12; ++i) {
      float value = 0.25f * static_cast<float>(i - 5);
      file.append(reinterpret_cast<const char*>(&value), sizeof value);
    }
    return new std::string(file);
  }();
  if (bytes.empty()) return;
  const std::filesystem::path& folder = ScratchFolder();
  bool weights = bytes[0] & 1;
  WriteFile(folder / "adapter_config.json", weights ? kConfig : bytes.substr(1));
  WriteFile(folder / "adapter_model.safetensors",
            weights ? bytes.substr(1) : std::string_view(*kWeights));
  auto inspection = integrity::InspectAdapter(folder.string(), bytes[0] & 2 ? folder.string() : "");
  if (inspection.ok()) {
    integrity::AdapterInspectionJson(*inspection);
    integrity::AdapterInspectionText(*inspection);
  }
}

constexpr std::pair<std::string_view, Entry> kEntries[] = {
    // The symbolic pickle machine, legacy torch, joblib, embedded payloads.
    {"pickle", ScanWith<scan::PickleScanner>},
    // The lenient zip reader and the torch/npz/keras layouts.
    {"zip", ScanWith<scan::ZipScanner>},
    // ustar, GNU, pax and every type flag.
    {"tar", ScanWith<scan::TarScanner>},
    // gzip, zlib, bzip2, xz, lzma, zstd and the decompression budget.
    {"compressed", ScanWith<scan::CompressedScanner>},
    // The strict safetensors header and the configs in its metadata.
    {"safetensors", ScanWith<scan::SafetensorsScanner>},
    {"gguf", ScanWith<scan::GgufScanner>},
    // The protobuf walkers: ONNX and TensorFlow graphs.
    {"onnx", ScanWith<scan::OnnxScanner>},
    {"tf", ScanWith<scan::TfScanner>},
    // The .npy header as a Python literal.
    {"numpy", ScanWith<scan::NumpyScanner>},
    {"sentencepiece", ScanWith<scan::SentencePieceScanner>},
    // msgpack (Flax) and images.
    {"msgpack", ScanWith<scan::InertDataScanner>},
    // Text: protocol 0 pickles and JSON/YAML instantiation configs.
    {"config", ScanWith<scan::ConfigScanner>},
    {"keras_config", KerasConfig},
    {"template", Template},
    {"tokenizer", Tokenizer},
    {"audit_jsonl", AuditJsonl},
    {"model_sig", ModelSignature},
    {"adapter", Adapter},
};

Entry Selected() {
  for (const auto& [name, entry] : kEntries) {
    if (name == GAUNTLET_FUZZ_TARGET) return entry;
  }
  __builtin_trap();  // A target CMake names must exist here.
}

}  // namespace
}  // namespace gauntlet::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const gauntlet::fuzz::Entry entry = gauntlet::fuzz::Selected();
  entry(gauntlet::fuzz::Bytes(data, size));
  return 0;
}
