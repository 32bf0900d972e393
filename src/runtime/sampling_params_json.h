// SamplingParams from the JSON of sglang's "sampling_params" object (also used by prompt files).
#pragma once

#include <nlohmann/json.hpp>

#include "runtime/sampling_params.h"

namespace cpm {

// Reads the known keys over `defaults`; a key with the wrong type throws cpm::Error naming it.
// Unknown keys are ignored, as sglang does, so clients of other servers keep working.
SamplingParams sampling_params_from_json(const nlohmann::json& object, SamplingParams defaults = {});

}  // namespace cpm
