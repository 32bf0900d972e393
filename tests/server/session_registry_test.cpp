#include "server/session_registry.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace cpm {
namespace {

TEST(SessionRegistry, AnIdOrAnyOfItsRequestIdsNamesOneRequestAtATime) {
  SessionRegistry registry;
  registry.claim("x", {"x-0", "x-1"});
  EXPECT_THROW(registry.claim("x", {"x"}), Error);      // the same rid
  EXPECT_THROW(registry.claim("x-1", {"x-1"}), Error);  // one of its prompts' ids
  EXPECT_THROW(registry.claim("y", {"y-0", "x-0"}), Error);
  registry.claim("y", {"y"});  // nothing of a refused claim is kept
  registry.release("x");
  registry.claim("x-1", {"x-1"});
  registry.release("x-1");
  registry.release("never-claimed");
  registry.claim("x", {"x"});
}

TEST(SessionRegistry, ARefusedClaimNamesTheId) {
  SessionRegistry registry;
  registry.claim("chat-1", {"chat-1"});
  try {
    registry.claim("chat-1", {"chat-1"});
    FAIL() << "claimed twice";
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(), "request id 'chat-1' is already in flight");
  }
}

}  // namespace
}  // namespace cpm
