// The .npy header, read the way np.load reads it: the header is a Python
// dict literal (ast.literal_eval), and its 'descr' goes through
// numpy.lib.format.descr_to_dtype. A dtype holds Python objects, which
// np.load(allow_pickle=True) unpickles from the array body, for every
// spelling numpy accepts: '|O', 'O8', 'object', 'object_', '(2,)O',
// 'i4,O', a subarray ('O', (2,)) or a field of a nested structured dtype.
#ifndef GAUNTLET_WORKER_SCAN_NPY_HEADER_H_
#define GAUNTLET_WORKER_SCAN_NPY_HEADER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace gauntlet::scan {

struct NpyHeader {
  bool has_objects = false;
  std::string descr;  // The 'descr' value as written, for evidence.
  // For a plain (non-structured) dtype: its item size and the element count
  // from 'shape', so a truncated body can be told from a complete one.
  std::optional<uint64_t> item_size;
  std::optional<uint64_t> elements;
};

// Parses the header dict text; an error says what np.load would reject.
absl::StatusOr<NpyHeader> ParseNpyHeader(std::string_view text);

// Item size in bytes of a simple numpy type string such as "f8", "<i4",
// "U10" (the joblib array wrapper and the .npy header both need it);
// nullopt for shapes, structured and datetime types. `is_object` says 'O'.
std::optional<uint64_t> TypeStringItemSize(std::string_view code, bool* is_object);

// Whether a numpy type string (one numpy.dtype() accepts) holds objects.
bool TypeStringHoldsObjects(std::string_view type);

}  // namespace gauntlet::scan

#endif  // GAUNTLET_WORKER_SCAN_NPY_HEADER_H_
