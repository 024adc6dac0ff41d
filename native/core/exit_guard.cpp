#include "core/exit_guard.h"

#include <cstdlib>
#include <map>
#include <mutex>

namespace lemur {
namespace {

std::mutex& mu() {
  static auto* m = new std::mutex();  // never destroyed: used from the atexit handler
  return *m;
}

std::map<const void*, std::function<void()>>& registry() {
  static auto* r = new std::map<const void*, std::function<void()>>();
  return *r;
}

void stop_all() {
  std::map<const void*, std::function<void()>> todo;
  {
    std::lock_guard<std::mutex> lock(mu());
    todo.swap(registry());
  }
  for (auto& [owner, stop] : todo) stop();
}

}  // namespace

void register_at_exit(const void* owner, std::function<void()> stop) {
  static bool installed = (std::atexit(stop_all), true);
  (void)installed;
  std::lock_guard<std::mutex> lock(mu());
  registry()[owner] = std::move(stop);
}

void unregister_at_exit(const void* owner) {
  std::lock_guard<std::mutex> lock(mu());
  registry().erase(owner);
}

}  // namespace lemur
