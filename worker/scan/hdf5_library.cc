#include "worker/scan/hdf5_library.h"

#include <dlfcn.h>

#include <string>

#include "common/strings.h"

namespace gauntlet::scan {
namespace {

void* OpenFirst(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)) return handle;
  }
  return nullptr;
}

absl::StatusOr<Hdf5Library> Load() {
  void* core = OpenFirst({"libhdf5_serial.so.103", "libhdf5_serial.so", "libhdf5.so"});
  void* hl = OpenFirst({"libhdf5_serial_hl.so.100", "libhdf5_serial_hl.so", "libhdf5_hl.so"});
  if (!core || !hl) {
    return absl::FailedPreconditionError(StrCat("libhdf5 cannot be loaded (", dlerror(),
                                                "); install libhdf5-103-1 and libhdf5-hl-100"));
  }
  std::string missing;
  auto resolve = [&](void* handle, const char* symbol, auto& slot) {
    void* address = dlsym(handle, symbol);
    if (!address && missing.empty()) missing = symbol;
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(address);
  };
  Hdf5Library lib{};
  resolve(core, "H5open", lib.open);
  resolve(core, "H5Eset_auto2", lib.set_error_handler);
  resolve(core, "H5Fopen", lib.file_open);
  resolve(core, "H5Fclose", lib.file_close);
  resolve(hl, "H5LTopen_file_image", lib.open_image);
  resolve(core, "H5Aexists", lib.attribute_exists);
  resolve(core, "H5Aopen", lib.attribute_open);
  resolve(core, "H5Aget_type", lib.attribute_type);
  resolve(core, "H5Aread", lib.attribute_read);
  resolve(core, "H5Aclose", lib.attribute_close);
  resolve(core, "H5Tget_class", lib.type_class);
  resolve(core, "H5Tis_variable_str", lib.type_is_variable_string);
  resolve(core, "H5Tcopy", lib.type_copy);
  resolve(core, "H5Tset_size", lib.type_set_size);
  resolve(core, "H5Tget_size", lib.type_size);
  resolve(core, "H5Tset_cset", lib.type_set_charset);
  resolve(core, "H5Tget_cset", lib.type_charset);
  resolve(core, "H5Tclose", lib.type_close);
  resolve(core, "H5free_memory", lib.free_memory);
  hid_t* c_string = nullptr;
  resolve(core, "H5T_C_S1_g", c_string);
  if (!missing.empty()) return absl::FailedPreconditionError(StrCat("libhdf5 lacks ", missing));
  // H5T_C_S1_g is filled in by H5open, which the header macros call for us.
  if (lib.open() < 0) return absl::FailedPreconditionError("libhdf5 failed to initialise");
  lib.c_string_type = *c_string;
  return lib;
}

}  // namespace

absl::StatusOr<const Hdf5Library*> Hdf5Library::Get() {
  static const absl::StatusOr<Hdf5Library> library = Load();
  if (!library.ok()) return library.status();
  return &*library;
}

}  // namespace gauntlet::scan
