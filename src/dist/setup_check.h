// Every rank of a tensor-parallel group must run the same model: a rank started with another
// checkpoint or other model flags would compute garbage silently, or hang in a collective whose
// sizes do not match. Ranks exchange fingerprints at start and all refuse to run if any differs.
#pragma once

#include <cstdint>
#include <string>

#include "core/communicator.h"

namespace cpm {

struct RankSetup {
  uint64_t readable = 1;    // 0: this rank could not fingerprint its checkpoint; `reason` says why
  uint64_t checkpoint = 0;  // checkpoint_fingerprint() of --model-path
  uint64_t flags = 0;       // a hash of the flags that change the model's arithmetic
  // The unreadable rank's error, cut to fit and NUL-terminated. Every rank's message carries it:
  // mpirun may end the job on rank 0's exit before the failing rank's own output gets through.
  char reason[256] = {};

  void set_reason(const std::string& text);
};

// Collective: every rank calls it, also one that failed to read its checkpoint (readable = 0), so
// that no rank is left waiting. Throws cpm::Error on every rank, naming the ranks that differ from
// rank 0 and in what (with an unreadable rank's reason), if any setup differs.
void require_same_setup(Communicator& group, const RankSetup& mine);

}  // namespace cpm
