#include "common/random_id.h"

#include <openssl/rand.h>

#include <cstdlib>
#include <vector>

namespace gauntlet {

std::string RandomHex(size_t bytes) {
  std::vector<unsigned char> random(bytes);
  // Failing to seed is a broken host, not a condition to work around with
  // weaker randomness.
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) std::abort();
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * bytes);
  for (unsigned char byte : random) {
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 15]);
  }
  return hex;
}

}  // namespace gauntlet
