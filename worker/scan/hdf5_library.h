// libhdf5, loaded on first use. Linking it would drag ~35 shared libraries
// (libcurl, OpenSSL, LDAP, Kerberos...) into every `gauntlet` start-up for a
// format most scans never meet; dlopen defers that cost to the first HDF5
// file. Types and signatures still come from hdf5.h, so calls stay typed.
#ifndef GAUNTLET_WORKER_SCAN_HDF5_LIBRARY_H_
#define GAUNTLET_WORKER_SCAN_HDF5_LIBRARY_H_

#include <hdf5.h>
#include <hdf5_hl.h>

#include "absl/status/statusor.h"

namespace gauntlet::scan {

struct Hdf5Library {
  decltype(&H5open) open;
  decltype(&H5Eset_auto2) set_error_handler;
  decltype(&H5Fopen) file_open;
  decltype(&H5Fclose) file_close;
  decltype(&H5LTopen_file_image) open_image;
  decltype(&H5Aexists) attribute_exists;
  decltype(&H5Aopen) attribute_open;
  decltype(&H5Aget_type) attribute_type;
  decltype(&H5Aread) attribute_read;
  decltype(&H5Aclose) attribute_close;
  decltype(&H5Tget_class) type_class;
  decltype(&H5Tis_variable_str) type_is_variable_string;
  decltype(&H5Tcopy) type_copy;
  decltype(&H5Tset_size) type_set_size;
  decltype(&H5Tget_size) type_size;
  decltype(&H5Tset_cset) type_set_charset;
  decltype(&H5Tget_cset) type_charset;
  decltype(&H5Tclose) type_close;
  decltype(&H5free_memory) free_memory;
  hid_t c_string_type;  // H5T_C_S1.

  // The library, loaded once; FailedPrecondition when it is not installed.
  static absl::StatusOr<const Hdf5Library*> Get();
};

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_HDF5_LIBRARY_H_
