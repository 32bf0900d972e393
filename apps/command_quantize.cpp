// cpmserve quantize: writes a checkpoint whose matrices are stored in a quantized format, loadable by
// mmap with no conversion. The safetensors file names the format in its metadata ("cpmserve_format")
// and stores q8_0 / q4_0 tensors under those dtype names with their logical [rows, cols] shapes.
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "core/error.h"
#include "model/safetensors.h"
#include "model_options.h"

namespace cpm::app {

namespace {

namespace fs = std::filesystem;

struct QuantizeFlags {
  std::string model_path;
  std::string out;
  std::string dtype = "q4_0";
  int threads = 0;
};

std::vector<uint8_t> matrix_bytes(const MatrixView& m) {
  return {m.data, m.data + m.num_bytes()};
}

int run_quantize(const QuantizeFlags& flags) {
  DType dtype;
  parse_dtype(flags.dtype, &dtype);
  if (fs::weakly_canonical(flags.model_path) == fs::weakly_canonical(flags.out))
    fail("--out must differ from --model-path");
  ThreadPool pool(flags.threads);
  WeightLoadOptions options{dtype, &pool, true};
  options.place_matrices = false;  // written as stored: row-major
  options.decode_kv_b_q8_0 = false;
  auto weights = ModelWeights::load(flags.model_path, options);
  for (const std::string& warning : weights->warnings()) std::cerr << "warning: " << warning << "\n";
  fs::create_directories(flags.out);
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  writer.set_metadata("cpmserve_format", flags.dtype);
  for (const auto& [name, matrix] : weights->named_matrices()) {
    const MatrixView m = *matrix;
    writer.add_produced(name, m.dtype, {m.rows, m.cols}, m.num_bytes(), [m] { return matrix_bytes(m); });
  }
  for (const auto& [name, values] : weights->named_vectors()) {
    const auto* data = reinterpret_cast<const uint8_t*>(values->data());
    writer.add(name, DType::kF32, {static_cast<int64_t>(values->size())},
               std::vector<uint8_t>(data, data + values->size() * sizeof(float)));
  }
  writer.write((fs::path(flags.out) / "model.safetensors").string());
  // Everything else of the folder (config, tokenizer, chat template) is copied as is.
  for (const auto& entry : fs::directory_iterator(flags.model_path)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.find(".safetensors") != std::string::npos) continue;
    fs::copy_file(entry.path(), fs::path(flags.out) / name, fs::copy_options::overwrite_existing);
  }
  std::cerr << "wrote " << flags.out << " (" << flags.dtype << ", "
            << fs::file_size(fs::path(flags.out) / "model.safetensors") << " bytes)\n";
  return 0;
}

}  // namespace

CommandRunner add_quantize_command(CLI::App& app) {
  auto flags = std::make_shared<QuantizeFlags>();
  CLI::App* command = app.add_subcommand("quantize", "write a checkpoint with quantized weights");
  command->add_option("--model-path", flags->model_path, "source checkpoint folder")->required();
  command->add_option("--out", flags->out, "output folder")->required();
  command->add_option("--dtype", flags->dtype, "q8_0, q4_0, bf16 or f32")
      ->check(CLI::IsMember({"q8_0", "q4_0", "bf16", "f32"}))
      ->capture_default_str();
  command->add_option("--threads", flags->threads, "threads (0: all cores)");
  return [flags] { return run_quantize(*flags); };
}

}  // namespace cpm::app
