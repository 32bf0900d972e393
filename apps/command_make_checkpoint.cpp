// cpmserve make-checkpoint: a deterministic random MiniCPM3 checkpoint with a tokenizer, for tests
// and benchmarks.
#include <chrono>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "core/error.h"
#include "model/random_checkpoint.h"
#include "tokenizer/bpe_trainer.h"

namespace cpm::app {

namespace {

namespace fs = std::filesystem;

struct MakeCheckpointFlags {
  std::string preset;
  std::string out;
  uint64_t seed = 0;
  std::string dtype = "bf16";
  std::string tokenizer_from;
};

// The real MiniCPM3-4B tokenizer files, when ../shared/data/minicpm3-4b is beside the source tree.
std::string find_real_tokenizer() {
  std::error_code error;
  const fs::path exe = fs::read_symlink("/proc/self/exe", error);
  for (const fs::path& base : {exe.parent_path().parent_path(), fs::current_path()}) {
    const fs::path candidate = base / ".." / "shared" / "data" / "minicpm3-4b";
    if (fs::exists(candidate / "tokenizer.json")) return fs::weakly_canonical(candidate).string();
  }
  return "";
}

void copy_tokenizer(const std::string& from, const std::string& to) {
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "added_tokens.json",
                           "special_tokens_map.json", "tokenizer.model"}) {
    const fs::path source = fs::path(from) / name;
    if (fs::exists(source)) fs::copy_file(source, fs::path(to) / name, fs::copy_options::overwrite_existing);
  }
}

int run_make_checkpoint(const MakeCheckpointFlags& flags) {
  const nlohmann::ordered_json config = random_checkpoint_config(flags.preset);
  DType dtype;
  if (!parse_dtype(flags.dtype, &dtype)) fail("--dtype: unknown type ", flags.dtype);
  const auto start = std::chrono::steady_clock::now();
  std::cerr << "writing random " << flags.preset << " checkpoint (" << flags.dtype << ", seed " << flags.seed
            << ") to " << flags.out << "\n";
  write_random_checkpoint(flags.out, config, flags.seed, dtype);
  const int32_t vocab = config["vocab_size"].get<int32_t>();
  std::string tokenizer_from = flags.tokenizer_from;
  if (tokenizer_from.empty() && flags.preset == "minicpm3-4b") tokenizer_from = find_real_tokenizer();
  if (!tokenizer_from.empty()) {
    copy_tokenizer(tokenizer_from, flags.out);
    std::cerr << "tokenizer: copied from " << tokenizer_from << "\n";
  } else if (vocab <= 65536) {
    write_trained_tokenizer(flags.out, default_tokenizer_corpus(), vocab);
    std::cerr << "tokenizer: BPE with " << vocab << " ids trained on the built-in corpus\n";
  } else {
    std::cerr << "warning: no tokenizer written (the real MiniCPM3-4B tokenizer was not found; pass "
                 "--tokenizer-from DIR); prompts must be given as token ids\n";
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cerr << "done in " << seconds << " s\n";
  return 0;
}

}  // namespace

CommandRunner add_make_checkpoint_command(CLI::App& app) {
  auto flags = std::make_shared<MakeCheckpointFlags>();
  CLI::App* command =
      app.add_subcommand("make-checkpoint", "write a deterministic random MiniCPM3 checkpoint");
  command->add_option("--preset", flags->preset, "tiny, demo or minicpm3-4b")
      ->required()
      ->check(CLI::IsMember(random_checkpoint_presets()));
  command->add_option("--out", flags->out, "output folder")->required();
  command->add_option("--seed", flags->seed, "random seed")->capture_default_str();
  command->add_option("--dtype", flags->dtype, "bf16 or f32")
      ->check(CLI::IsMember({"bf16", "f32"}))
      ->capture_default_str();
  command->add_option("--tokenizer-from", flags->tokenizer_from,
                      "copy tokenizer files from this folder instead of training a small one");
  return [flags] { return run_make_checkpoint(*flags); };
}

}  // namespace cpm::app
