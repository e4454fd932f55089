#include "worker/scan/hdf5_scanner.h"

#include <mutex>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/hdf5_library.h"
#include "worker/scan/keras_config.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {
namespace {

// Debian's libhdf5 is built without thread safety: one caller at a time.
std::mutex& Hdf5Mutex() {
  static std::mutex mutex;
  return mutex;
}

// A string attribute of the root group, fixed- or variable-length: nullopt
// when absent, an error when it exists but cannot be read as a string (a
// Keras loader would fail or read something else: never a pass).
absl::StatusOr<std::optional<std::string>> RootStringAttribute(const Hdf5Library& h5, hid_t file,
                                                               const char* name) {
  htri_t exists = h5.attribute_exists(file, name);
  if (exists == 0) return std::nullopt;
  if (exists < 0) return absl::DataLossError(StrCat("cannot look up the '", name, "' attribute"));
  hid_t attr = h5.attribute_open(file, name, H5P_DEFAULT);
  if (attr < 0) return absl::DataLossError(StrCat("cannot open the '", name, "' attribute"));
  absl::StatusOr<std::optional<std::string>> value =
      absl::DataLossError(StrCat("the '", name, "' attribute cannot be read as a string"));
  hid_t type = h5.attribute_type(attr);
  if (type >= 0 && h5.type_class(type) == H5T_STRING) {
    if (h5.type_is_variable_string(type) > 0) {
      char* text = nullptr;
      hid_t mem = h5.type_copy(h5.c_string_type);
      h5.type_set_size(mem, H5T_VARIABLE);
      // h5py writes UTF-8; a character-set mismatch fails the read.
      h5.type_set_charset(mem, h5.type_charset(type));
      if (h5.attribute_read(attr, mem, &text) >= 0 && text) {
        value = std::optional<std::string>(std::string(text));
        h5.free_memory(text);
      }
      h5.type_close(mem);
    } else {
      size_t size = h5.type_size(type);
      std::vector<char> buffer(size + 1, '\0');
      if (size > 0 && h5.attribute_read(attr, type, buffer.data()) >= 0) {
        value = std::optional<std::string>(std::string(buffer.data()));
      }
    }
  }
  if (type >= 0) h5.type_close(type);
  h5.attribute_close(attr);
  return value;
}

// Opened from memory, never by path: the sandboxed parser may not open
// files, and the bytes are already mapped. The library reads our buffer in
// place, but HDF5 1.10 leaks ~72 bytes of bookkeeping per image it opens
// (tests/lsan.supp).
hid_t OpenHdf5(const Hdf5Library& h5, std::string_view content) {
  return h5.open_image(const_cast<char*>(content.data()), content.size(),
                       H5LT_FILE_IMAGE_DONT_COPY | H5LT_FILE_IMAGE_DONT_RELEASE);
}

}  // namespace

void Hdf5Scanner::Scan(std::string_view content, ScanContext& ctx) const {
  ctx.LabelFormat("hdf5");
  if (!ctx.MayRunUnhardenedParser()) return;
  auto library = Hdf5Library::Get();
  if (!library.ok()) {
    ctx.ReportIncomplete(rules::kUnsupportedFormat, std::string(library.status().message()), 0);
    return;
  }
  const Hdf5Library& h5 = **library;
  absl::StatusOr<std::optional<std::string>> model_config, training_config;
  {
    std::lock_guard<std::mutex> lock(Hdf5Mutex());
    h5.set_error_handler(H5E_DEFAULT, nullptr, nullptr);  // Errors are values, not stderr noise.
    hid_t file = OpenHdf5(h5, content);
    if (file < 0) {
      ctx.ReportIncomplete(rules::kArchiveMalformed, "HDF5 file cannot be opened", 0);
      return;
    }
    model_config = RootStringAttribute(h5, file, "model_config");
    training_config = RootStringAttribute(h5, file, "training_config");
    h5.file_close(file);
  }
  for (auto [attribute, config] : {std::pair{"@model_config", &model_config},
                                   std::pair{"@training_config", &training_config}}) {
    if (!config->ok()) {
      ctx.ReportIncomplete(rules::kKerasMalformed, std::string(config->status().message()), 0);
      continue;
    }
    if (!config->value()) continue;
    if (std::string_view(attribute) == "@model_config") ctx.LabelFormat("keras-h5");
    ScanContext::MemberScope scope(ctx, attribute);
    AnalyzeKerasConfig(*config->value(), ctx);
  }
}

}  // namespace gauntlet::scan
