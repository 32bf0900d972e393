#include "dist/tensor_parallel_run.h"

#include <cstring>
#include <iostream>

#include "core/error.h"

namespace cpm {

namespace {

// A step is a fixed header, then each part: a header of its own and the arrays it announces.
struct StepHeader {
  int64_t stop = 0;
  int64_t parts = 0;
};

struct PartHeader {
  uint64_t cache_id = 0;
  int64_t cache_slots = 0;
  int64_t cache_dtype = 0;
  int64_t rows = 0;
  int64_t sequences = 0;
  int64_t logit_rows = 0;
  int64_t slots = 0;
};

template <typename T>
void append(std::vector<uint8_t>* out, const T* values, int64_t count) {
  const size_t bytes = static_cast<size_t>(count) * sizeof(T);
  out->resize(out->size() + bytes);
  if (bytes > 0) std::memcpy(out->data() + out->size() - bytes, values, bytes);
}

class Reader {
 public:
  explicit Reader(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  template <typename T>
  void read(T* values, int64_t count) {
    if (count < 0) fail("internal: malformed tensor-parallel step (negative count)");
    const size_t bytes = static_cast<size_t>(count) * sizeof(T);
    if (offset_ + bytes > bytes_.size()) fail("internal: tensor-parallel step message is truncated");
    if (bytes > 0) std::memcpy(values, bytes_.data() + offset_, bytes);
    offset_ += bytes;
  }
  bool at_end() const { return offset_ == bytes_.size(); }

 private:
  const std::vector<uint8_t>& bytes_;
  size_t offset_ = 0;
};

// The size goes first so followers can receive a step of any size.
void broadcast_message(Communicator& group, std::vector<uint8_t>* bytes) {
  int64_t size = static_cast<int64_t>(bytes->size());
  group.broadcast(&size, sizeof size, 0);
  bytes->resize(static_cast<size_t>(size));
  group.broadcast(bytes->data(), size, 0);
}

// The follower's KV cache: one at a time, created for the leader's cache it mirrors.
class FollowerCache {
 public:
  explicit FollowerCache(const MiniCPM3& model) : model_(model) {}
  // This rank's cache for `part`, or null when the part names none.
  KvCache* for_part(const StepPart& part) {
    if (part.cache_id == 0) return nullptr;
    // A step on a newer leader cache replaces ours; going back to an older one would need the
    // contents we dropped.
    if (part.cache_id < cache_id_) {
      fail(
          "internal: the leader went back to an earlier KV cache; tensor parallelism supports one at a time");
    }
    if (part.cache_id != cache_id_) {
      cache_.reset();
      cache_ = model_.make_cache(part.cache_slots, part.cache_dtype);
      cache_id_ = part.cache_id;
    }
    return cache_.get();
  }

 private:
  const MiniCPM3& model_;
  std::unique_ptr<KvCache> cache_;
  uint64_t cache_id_ = 0;
};

int follow(Communicator& group, MiniCPM3& model) {
  FollowerCache cache(model);
  const int dp_size = model.data_parallel_size();
  std::vector<uint8_t> bytes;
  std::vector<float> logits;
  for (;;) {
    broadcast_message(group, &bytes);
    StepMessage step = decode_step(bytes);
    if (step.stop) return 0;
    if (static_cast<int>(step.parts.size()) != dp_size)
      fail("internal: a step of ", step.parts.size(), " parts for ", dp_size, " data-parallel ranks");
    if (dp_size == 1) {
      KvCache* own = cache.for_part(step.parts[0]);
      if (own == nullptr) fail("internal: a tensor-parallel step without a KV cache");
      model.forward(step.parts[0].batch, *own, &logits);
      continue;
    }
    std::vector<ForwardBatch> batches;
    std::vector<KvCache*> caches(dp_size, nullptr);
    caches[group.rank()] = cache.for_part(step.parts[group.rank()]);
    for (StepPart& part : step.parts) batches.push_back(std::move(part.batch));
    model.forward_data_parallel(batches, caches, &logits);
  }
}

void append_part(std::vector<uint8_t>* out, const ForwardBatch& batch, const KvCache* cache) {
  PartHeader header;
  if (cache != nullptr) {
    header.cache_id = cache->id();
    header.cache_slots = cache->num_slots();
    header.cache_dtype = static_cast<int64_t>(cache->dtype());
  }
  header.rows = batch.num_rows();
  header.sequences = static_cast<int64_t>(batch.sequences.size());
  header.logit_rows = static_cast<int64_t>(batch.logit_rows.size());
  for (const SequenceSpan& sequence : batch.sequences) header.slots += sequence.num_cached + sequence.num_new;
  append(out, &header, 1);
  append(out, batch.token_ids.data(), header.rows);
  for (const SequenceSpan& sequence : batch.sequences) {
    const int64_t span[3] = {sequence.first_row, sequence.num_new, sequence.num_cached};
    append(out, span, 3);
  }
  for (const SequenceSpan& sequence : batch.sequences)
    append(out, sequence.slots, sequence.num_cached + sequence.num_new);
  append(out, batch.logit_rows.data(), header.logit_rows);
}

StepPart read_part(Reader& reader) {
  PartHeader header;
  reader.read(&header, 1);
  StepPart part;
  part.cache_id = header.cache_id;
  part.cache_slots = header.cache_slots;
  part.cache_dtype = static_cast<DType>(header.cache_dtype);
  if (header.rows < 0 || header.sequences < 0 || header.logit_rows < 0 || header.slots < 0)
    fail("internal: malformed tensor-parallel step (negative count)");
  part.batch.token_ids.resize(header.rows);
  reader.read(part.batch.token_ids.data(), header.rows);
  part.batch.sequences.resize(header.sequences);
  for (SequenceSpan& sequence : part.batch.sequences) {
    int64_t span[3];
    reader.read(span, 3);
    sequence.first_row = span[0];
    sequence.num_new = span[1];
    sequence.num_cached = span[2];
  }
  part.slots.resize(header.slots);
  reader.read(part.slots.data(), header.slots);
  part.batch.logit_rows.resize(header.logit_rows);
  reader.read(part.batch.logit_rows.data(), header.logit_rows);
  int64_t offset = 0;
  for (SequenceSpan& sequence : part.batch.sequences) {
    const int64_t count = sequence.num_cached + sequence.num_new;
    if (count < 0 || offset + count > header.slots)
      fail("internal: tensor-parallel step slots do not add up");
    sequence.slots = part.slots.data() + offset;
    offset += count;
  }
  return part;
}

}  // namespace

std::vector<uint8_t> encode_step(const std::vector<const ForwardBatch*>& batches,
                                 const std::vector<const KvCache*>& caches) {
  if (batches.size() != caches.size()) fail("internal: a step needs one cache entry per batch");
  StepHeader header;
  header.parts = static_cast<int64_t>(batches.size());
  std::vector<uint8_t> out;
  append(&out, &header, 1);
  for (size_t i = 0; i < batches.size(); ++i) append_part(&out, *batches[i], caches[i]);
  return out;
}

std::vector<uint8_t> encode_step(const ForwardBatch& batch, const KvCache& cache) {
  return encode_step({&batch}, {&cache});
}

std::vector<uint8_t> encode_stop() {
  StepHeader header;
  header.stop = 1;
  std::vector<uint8_t> out;
  append(&out, &header, 1);
  return out;
}

StepMessage decode_step(const std::vector<uint8_t>& bytes) {
  Reader reader(bytes);
  StepHeader header;
  reader.read(&header, 1);
  StepMessage step;
  step.stop = header.stop != 0;
  if (step.stop) return step;
  if (header.parts < 1 || header.parts > (int64_t{1} << 16))
    fail("internal: malformed tensor-parallel step (", header.parts, " parts)");
  for (int64_t i = 0; i < header.parts; ++i) step.parts.push_back(read_part(reader));
  if (!reader.at_end()) fail("internal: tensor-parallel step message has trailing bytes");
  return step;
}

int run_tensor_parallel(Communicator* group, MiniCPM3& model, const std::function<int()>& leader_work) {
  if (group == nullptr || group->size() == 1) return leader_work();
  if (group->rank() != 0) {
    try {
      return follow(*group, model);
    } catch (const std::exception& error) {
      std::cerr << str_cat("error (rank ", group->rank(), "): ", error.what(), "\n") << std::flush;
      group->abort(1);
    }
  }
  // Releases the followers however leader_work ends. Steps are whole by then: a failure inside
  // one aborts the group (MiniCPM3::forward) before this runs.
  struct Release {
    Communicator& group;
    MiniCPM3& model;
    ~Release() {
      model.set_step_listener(nullptr);
      std::vector<uint8_t> stop = encode_stop();
      broadcast_message(group, &stop);
    }
  } release{*group, model};
  model.set_step_listener(
      [group](const std::vector<const ForwardBatch*>& batches, const std::vector<const KvCache*>& caches) {
        std::vector<uint8_t> step = encode_step(batches, caches);
        broadcast_message(*group, &step);
      });
  return leader_work();
}

}  // namespace cpm
