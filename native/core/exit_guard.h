// Stopping native threads before the process exits. process.exit() ends Node without
// finalizing JS objects, and exit() then destroys LibTorch's static state while our worker
// threads may still be running a step on it. Objects owning threads register a stop
// function here; one atexit handler (registered after LibTorch's statics, so it runs before
// their destructors) calls them all.
#pragma once
#include <functional>

namespace lemur {

void register_at_exit(const void* owner, std::function<void()> stop);
void unregister_at_exit(const void* owner);

}  // namespace lemur
