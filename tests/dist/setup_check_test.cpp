// require_same_setup over thread ranks: every rank passes when all agree, and every rank fails, with
// the same message naming the odd rank, when one differs; a rank that could not read its checkpoint
// still takes part, so nobody waits for ever.
#include "dist/setup_check.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "thread_group_communicator.h"

namespace cpm {
namespace {

// Runs require_same_setup on one thread per setup; returns each rank's error ("" if none).
std::vector<std::string> check(const std::vector<RankSetup>& setups) {
  test::ThreadGroup group(static_cast<int>(setups.size()));
  std::vector<std::string> errors(setups.size());
  std::vector<std::thread> ranks;
  for (size_t rank = 0; rank < setups.size(); ++rank) {
    ranks.emplace_back([&, rank] {
      test::ThreadGroupCommunicator communicator(group, static_cast<int>(rank));
      try {
        require_same_setup(communicator, setups[rank]);
      } catch (const Error& error) {
        errors[rank] = error.what();
      }
    });
  }
  for (std::thread& rank : ranks) rank.join();
  return errors;
}

RankSetup setup(uint64_t checkpoint, uint64_t flags, uint64_t readable = 1) {
  RankSetup result;
  result.checkpoint = checkpoint;
  result.flags = flags;
  result.readable = readable;
  return result;
}

TEST(SetupCheckTest, AgreeingRanksPass) {
  for (const std::string& error : check({setup(7, 9), setup(7, 9), setup(7, 9)})) EXPECT_EQ(error, "");
}

TEST(SetupCheckTest, EveryRankRefusesAnotherCheckpoint) {
  for (const std::string& error : check({setup(7, 9), setup(7, 9), setup(8, 9)}))
    EXPECT_NE(error.find("rank 2 loaded a different checkpoint from rank 0"), std::string::npos) << error;
}

TEST(SetupCheckTest, EveryRankRefusesOtherFlags) {
  for (const std::string& error : check({setup(7, 9), setup(7, 1)}))
    EXPECT_NE(error.find("rank 1 was started with different model flags"), std::string::npos) << error;
}

// Every rank's message carries the unreadable rank's own reason: mpirun may end the job on rank 0's
// exit before that rank's output gets through. A reason longer than the field is cut, and one sent
// without its terminating NUL still ends inside the field.
TEST(SetupCheckTest, AnUnreadableCheckpointStopsEveryRankWithItsReason) {
  RankSetup unreadable = setup(0, 9, 0);
  unreadable.set_reason("/models/x/config.json: cannot open (no such file)");
  for (const std::string& error : check({setup(7, 9), unreadable}))
    EXPECT_NE(
        error.find("rank 1 could not read its checkpoint: /models/x/config.json: cannot open (no such file)"),
        std::string::npos)
        << error;
  RankSetup long_reason = setup(0, 9, 0);
  long_reason.set_reason(std::string(1000, 'x'));
  RankSetup unterminated = setup(0, 9, 0);
  std::fill(std::begin(unterminated.reason), std::end(unterminated.reason), 'y');
  for (const std::string& error : check({setup(7, 9), long_reason, unterminated})) {
    EXPECT_NE(
        error.find(
            "rank 1 could not read its checkpoint: " + std::string(sizeof long_reason.reason - 1, 'x') +
            "; rank 2 could not read its checkpoint: " + std::string(sizeof unterminated.reason - 1, 'y')),
        std::string::npos)
        << error;
  }
}

}  // namespace
}  // namespace cpm
