#include "dist/setup_check.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"

namespace cpm {

void RankSetup::set_reason(const std::string& text) {
  const size_t length = std::min(text.size(), sizeof reason - 1);
  std::memcpy(reason, text.data(), length);
  reason[length] = '\0';
}

void require_same_setup(Communicator& group, const RankSetup& mine) {
  std::vector<RankSetup> all(static_cast<size_t>(group.size()));
  group.all_gather(&mine, sizeof mine, all.data());
  std::string unreadable;
  for (size_t rank = 0; rank < all.size(); ++rank) {
    if (all[rank].readable != 0) continue;
    all[rank].reason[sizeof all[rank].reason - 1] = '\0';  // whatever the other rank sent
    unreadable += (unreadable.empty() ? "rank " : "; rank ") + std::to_string(rank) +
                  " could not read its checkpoint: " + all[rank].reason;
  }
  if (!unreadable.empty()) fail(unreadable);
  std::string checkpoint_ranks, flag_ranks;
  for (size_t rank = 1; rank < all.size(); ++rank) {
    std::string& list = all[rank].checkpoint != all[0].checkpoint ? checkpoint_ranks : flag_ranks;
    if (all[rank].checkpoint == all[0].checkpoint && all[rank].flags == all[0].flags) continue;
    list += (list.empty() ? "" : ", ") + std::to_string(rank);
  }
  if (!checkpoint_ranks.empty()) {
    fail("rank ", checkpoint_ranks, " loaded a different checkpoint from rank 0 (config or weights differ); ",
         "every rank must be given the same --model-path contents");
  }
  if (!flag_ranks.empty()) {
    fail("rank ", flag_ranks, " was started with different model flags from rank 0 ",
         "(--dtype, --attention-backend, --enable-deterministic-inference, --enable-bf16-prefill or "
         "--context-length); every rank must get the same ones");
  }
}

}  // namespace cpm
