#include "dist/setup_check.h"

#include <vector>

#include "core/error.h"

namespace cpm {

void require_same_setup(Communicator& group, const RankSetup& mine) {
  std::vector<RankSetup> all(static_cast<size_t>(group.size()));
  group.all_gather(&mine, sizeof mine, all.data());
  std::string unreadable;
  for (size_t rank = 0; rank < all.size(); ++rank) {
    if (all[rank].readable == 0) unreadable += (unreadable.empty() ? "" : ", ") + std::to_string(rank);
  }
  if (!unreadable.empty())
    fail("rank ", unreadable, " could not read its checkpoint (its own error says why)");
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
         "(--dtype, --attention-backend, --enable-deterministic-inference or --context-length); every rank "
         "must get the same ones");
  }
}

}  // namespace cpm
