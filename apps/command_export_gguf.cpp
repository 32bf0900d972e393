// cpmserve export-gguf: writes a checkpoint as one GGUF file that llama.cpp loads as architecture
// "minicpm3", so both engines can run the same weights side by side. The block types hold exactly
// the weights cpmserve runs with the same --dtype (model/gguf_export.h says which tensors those are).
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "core/error.h"
#include "model/gguf_export.h"
#include "tokenizer/llama_vocab.h"

namespace cpm::app {

namespace {

namespace fs = std::filesystem;

struct ExportGgufFlags {
  std::string model_path;
  std::string out;
  std::string dtype = "f16";
  std::string name;
  bool allow_constant_mismatch = false;
  int threads = 0;
};

// llama.cpp's tokenizer.ggml.* keys for a SentencePiece ("llama") vocabulary.
void add_vocab(const LlamaVocab& vocab, GgufWriter* writer) {
  writer->add_string("tokenizer.ggml.model", "llama");
  writer->add_string_array("tokenizer.ggml.tokens", vocab.tokens);
  writer->add_float32_array("tokenizer.ggml.scores", vocab.scores);
  writer->add_int32_array("tokenizer.ggml.token_type", vocab.types);
  for (auto [key, id] : {std::pair{"tokenizer.ggml.bos_token_id", vocab.bos_id},
                         {"tokenizer.ggml.eos_token_id", vocab.eos_id},
                         {"tokenizer.ggml.unknown_token_id", vocab.unk_id}}) {
    if (id >= 0) writer->add_uint32(key, static_cast<uint32_t>(id));
  }
  writer->add_bool("tokenizer.ggml.add_bos_token", vocab.add_bos);
  writer->add_bool("tokenizer.ggml.add_eos_token", vocab.add_eos);
  if (!vocab.chat_template.empty()) writer->add_string("tokenizer.chat_template", vocab.chat_template);
}

int run_export_gguf(const ExportGgufFlags& flags) {
  GgufExportOptions options;
  options.dtype = parse_gguf_export_dtype(flags.dtype);
  options.allow_constant_mismatch = flags.allow_constant_mismatch;
  options.name =
      flags.name.empty() ? fs::path(flags.model_path).lexically_normal().filename().string() : flags.name;
  if (options.name.empty()) options.name = fs::weakly_canonical(flags.model_path).filename().string();
  ThreadPool pool(flags.threads);
  options.pool = &pool;
  // No --dtype at load: the exporter converts one tensor at a time while writing, so an 8 GB
  // checkpoint never needs a second in-memory copy.
  WeightLoadOptions load_options;
  load_options.place_matrices = false;  // written as stored: row-major
  load_options.decode_kv_b_q8_0 = false;
  std::shared_ptr<const ModelWeights> weights = ModelWeights::load(flags.model_path, load_options);
  for (const std::string& warning : weights->warnings()) std::cerr << "warning: " << warning << "\n";
  GgufWriter writer;
  for (const std::string& warning : add_minicpm3_to_gguf(weights, options, &writer))
    std::cerr << "warning: " << warning << "\n";
  const LlamaVocab vocab = llama_vocab_from_checkpoint(flags.model_path, weights->config().vocab_size);
  add_vocab(vocab, &writer);
  std::cerr << "vocabulary: " << vocab.tokens.size() << " tokens, scores from " << vocab.score_source << "\n";
  writer.write(flags.out, true);
  std::cerr << "wrote " << flags.out << " (" << flags.dtype << ", " << writer.num_tensors() << " tensors, "
            << fs::file_size(flags.out) << " bytes)\n";
  return 0;
}

}  // namespace

CommandRunner add_export_gguf_command(CLI::App& app) {
  auto flags = std::make_shared<ExportGgufFlags>();
  CLI::App* command = app.add_subcommand("export-gguf", "write the model as a GGUF file for llama.cpp");
  command->add_option("--model-path", flags->model_path, "checkpoint folder")->required();
  command->add_option("--out", flags->out, "output .gguf file")->required();
  // Validated by parse_gguf_export_dtype, whose message names the supported types.
  command->add_option("--dtype", flags->dtype, "f32, f16, bf16, q8_0 or q4_0")->capture_default_str();
  command->add_option("--name", flags->name, "general.name (default: the folder name)");
  command->add_flag("--allow-constant-mismatch", flags->allow_constant_mismatch,
                    "export even when scale_emb, scale_depth or dim_model_base differ from the values "
                    "llama.cpp hard-codes (llama.cpp's output will then be wrong)");
  command->add_option("--threads", flags->threads, "threads (0: all cores)");
  return [flags] { return run_export_gguf(*flags); };
}

}  // namespace cpm::app
