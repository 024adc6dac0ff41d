// The JS side's group settings ({ rank, worldSize, masterAddr, masterPort, timeoutMs,
// backend, globalNegatives, overlap }, checked by lib/distributed.ts) as GroupOptions: for
// Model.joinGroup and checkCollectives. Defined in distributed_binding.cpp.
#pragma once
#include "bindings/js_object.h"
#include "distributed/process_group.h"

namespace lemur {

dist::GroupOptions group_options_from(const JsObject& o);

}  // namespace lemur
