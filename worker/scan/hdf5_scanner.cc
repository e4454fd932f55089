#include "worker/scan/hdf5_scanner.h"

#include <hdf5.h>
#include <hdf5_hl.h>
#include <sys/stat.h>

#include <mutex>
#include <optional>
#include <vector>

#include "common/rules.h"
#include "common/strings.h"
#include "worker/scan/keras_config.h"
#include "worker/scan/scan_context.h"

namespace gauntlet::scan {
namespace {

// Debian's libhdf5 is built without thread safety: one caller at a time.
std::mutex& Hdf5Mutex() {
  static std::mutex mutex;
  return mutex;
}

// A string attribute of the root group, fixed- or variable-length; nullopt
// when absent or not a string.
std::optional<std::string> RootStringAttribute(hid_t file, const char* name) {
  if (H5Aexists(file, name) <= 0) return std::nullopt;
  hid_t attr = H5Aopen(file, name, H5P_DEFAULT);
  if (attr < 0) return std::nullopt;
  std::optional<std::string> value;
  hid_t type = H5Aget_type(attr);
  if (type >= 0 && H5Tget_class(type) == H5T_STRING) {
    if (H5Tis_variable_str(type) > 0) {
      char* text = nullptr;
      hid_t mem = H5Tcopy(H5T_C_S1);
      H5Tset_size(mem, H5T_VARIABLE);
      H5Tset_cset(mem, H5Tget_cset(type));  // h5py writes UTF-8; a mismatch fails the read.
      if (H5Aread(attr, mem, &text) >= 0 && text) {
        value = std::string(text);
        H5free_memory(text);
      }
      H5Tclose(mem);
    } else {
      size_t size = H5Tget_size(type);
      std::vector<char> buffer(size + 1, '\0');
      if (size > 0 && H5Aread(attr, type, buffer.data()) >= 0) value = std::string(buffer.data());
    }
  }
  if (type >= 0) H5Tclose(type);
  H5Aclose(attr);
  return value;
}

// A top-level file is opened by path. Members of archives are opened from
// memory: the library reads our buffer in place, but HDF5 1.10 leaks ~72
// bytes of bookkeeping per image it opens (tests/lsan.supp).
hid_t OpenHdf5(std::string_view content, const ScanContext& ctx) {
  struct stat st {};
  if (ctx.depth() == 0 && stat(ctx.file_path().c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<uint64_t>(st.st_size) == content.size()) {
    return H5Fopen(ctx.file_path().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  }
  return H5LTopen_file_image(const_cast<char*>(content.data()), content.size(),
                             H5LT_FILE_IMAGE_DONT_COPY | H5LT_FILE_IMAGE_DONT_RELEASE);
}

}  // namespace

void Hdf5Scanner::Scan(std::string_view content, ScanContext& ctx) const {
  ctx.LabelFormat("hdf5");
  std::optional<std::string> model_config, training_config;
  {
    std::lock_guard<std::mutex> lock(Hdf5Mutex());
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // Errors are values here, not stderr noise.
    hid_t file = OpenHdf5(content, ctx);
    if (file < 0) {
      ctx.ReportIncomplete(rules::kArchiveMalformed, "HDF5 file cannot be opened", 0);
      return;
    }
    model_config = RootStringAttribute(file, "model_config");
    training_config = RootStringAttribute(file, "training_config");
    H5Fclose(file);
  }
  if (model_config) {
    ctx.LabelFormat("keras-h5");
    ScanContext::MemberScope scope(ctx, "@model_config");
    AnalyzeKerasConfig(*model_config, ctx);
  }
  if (training_config) {
    ScanContext::MemberScope scope(ctx, "@training_config");
    AnalyzeKerasConfig(*training_config, ctx);
  }
}

}  // namespace gauntlet::scan
