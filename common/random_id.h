// Unguessable identifiers (job ids, token ids and secrets) from the
// operating system's CSPRNG through OpenSSL, never from std::random_device
// or a counter.
#ifndef GAUNTLET_COMMON_RANDOM_ID_H_
#define GAUNTLET_COMMON_RANDOM_ID_H_

#include <cstddef>
#include <string>

namespace gauntlet {

// `bytes` random bytes as lowercase hex (2 * bytes digits).
std::string RandomHex(size_t bytes);

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_RANDOM_ID_H_
