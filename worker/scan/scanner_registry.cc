#include "worker/scan/scanner_registry.h"

#include <vector>

#include "worker/scan/compressed_scanner.h"
#include "worker/scan/config_scanner.h"
#include "worker/scan/gguf_scanner.h"
#include "worker/scan/hdf5_scanner.h"
#include "worker/scan/inert_data_scanner.h"
#include "worker/scan/libarchive_scanner.h"
#include "worker/scan/numpy_scanner.h"
#include "worker/scan/onnx_scanner.h"
#include "worker/scan/pickle_scanner.h"
#include "worker/scan/safetensors_scanner.h"
#include "worker/scan/sentencepiece_scanner.h"
#include "worker/scan/tar_scanner.h"
#include "worker/scan/tf_scanner.h"
#include "worker/scan/zip_scanner.h"

namespace gauntlet::scan {

std::span<const std::unique_ptr<Scanner>> DefaultScanners() {
  static const auto* scanners = [] {
    auto* list = new std::vector<std::unique_ptr<Scanner>>();
    list->push_back(std::make_unique<ZipScanner>());
    list->push_back(std::make_unique<TarScanner>());
    list->push_back(std::make_unique<LibarchiveScanner>());
    list->push_back(std::make_unique<CompressedScanner>());
    list->push_back(std::make_unique<NumpyScanner>());
    list->push_back(std::make_unique<SafetensorsScanner>());
    list->push_back(std::make_unique<GgufScanner>());
    list->push_back(std::make_unique<OnnxScanner>());
    list->push_back(std::make_unique<Hdf5Scanner>());
    list->push_back(std::make_unique<TfScanner>());
    list->push_back(std::make_unique<SentencePieceScanner>());
    list->push_back(std::make_unique<InertDataScanner>());
    list->push_back(std::make_unique<ConfigScanner>());
    list->push_back(std::make_unique<PickleScanner>());
    return list;
  }();
  return *scanners;
}

}  // namespace gauntlet::scan
