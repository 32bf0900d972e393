// The fingerprint tensor-parallel ranks compare at start: equal for the same checkpoint wherever it
// lies, different for other weights of the same shapes, another config or another storage format.
#include "model/checkpoint_fingerprint.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "model/random_checkpoint.h"
#include "test_paths.h"

namespace cpm {
namespace {

namespace fs = std::filesystem;

class CheckpointFingerprintTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("fingerprint_test_" + std::to_string(::getpid()));
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string write(const std::string& name, uint64_t seed, const std::string& dtype = "bf16") {
    const std::string dir = (root_ / name).string();
    write_random_checkpoint(dir, random_checkpoint_config("tiny"), seed,
                            dtype == "bf16" ? DType::kBF16 : DType::kF32);
    return dir;
  }
  fs::path root_;
};

TEST_F(CheckpointFingerprintTest, SameCheckpointAnywhereSameFingerprint) {
  const std::string first = write("a", 3);
  fs::copy(first, root_ / "copy", fs::copy_options::recursive);
  EXPECT_EQ(checkpoint_fingerprint(first), checkpoint_fingerprint((root_ / "copy").string()));
}

TEST_F(CheckpointFingerprintTest, OtherWeightsOfTheSameShapesDiffer) {
  EXPECT_NE(checkpoint_fingerprint(write("a", 3)), checkpoint_fingerprint(write("b", 4)));
}

TEST_F(CheckpointFingerprintTest, OtherStorageFormatDiffers) {
  EXPECT_NE(checkpoint_fingerprint(write("a", 3, "bf16")), checkpoint_fingerprint(write("b", 3, "f32")));
}

TEST_F(CheckpointFingerprintTest, GoldenCheckpointsDiffer) {
  const std::string golden = test::test_data_dir() + "/golden/";
  EXPECT_NE(checkpoint_fingerprint(golden + "tiny-a"), checkpoint_fingerprint(golden + "tiny-c"));
}

TEST_F(CheckpointFingerprintTest, MissingFolderIsAClearError) {
  try {
    checkpoint_fingerprint((root_ / "missing").string());
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("config.json"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace cpm
