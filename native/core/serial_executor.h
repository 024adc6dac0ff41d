// One worker thread per model: heavy native work runs there, in submission order, and
// settles a JS Promise on the JS thread. The event loop never waits on torch.
#pragma once
#include <napi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lemur {

class SerialExecutor {
 public:
  using Work = std::function<void()>;                    // on the worker thread
  using Finish = std::function<Napi::Value(Napi::Env)>;  // on the JS thread, after work

  struct TraceEntry {
    uint64_t id;
    std::string label;
    double start_ms, end_ms;  // since the executor started
    bool failed;
  };

  SerialExecutor(Napi::Env env, std::string name);
  ~SerialExecutor();
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  // `owner` is kept alive until the Promise settles (so the native object cannot be
  // collected while its work runs). Exceptions thrown by `work` reject the Promise with the
  // exception's message; exceptions thrown by `finish` likewise.
  Napi::Promise submit(Napi::Env env, Napi::Object owner, std::string label, Work work,
                       Finish finish);

  size_t pending() const { return pending_; }
  std::vector<TraceEntry> trace() const;
  // The trace as a JS array of { id, label, startMs, endMs, failed }.
  Napi::Array trace_js(Napi::Env env) const;
  // Stops the thread after the queued tasks; idempotent. Called at environment teardown too.
  void shutdown();

 private:
  struct Task;
  void loop();
  void settle(Napi::Env env, Task* task);

  std::string name_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task*> queue_;
  bool stop_ = false;
  Napi::ThreadSafeFunction tsfn_;
  // Set when Node finalizes the TSFN (environment teardown): it must not be released again.
  std::shared_ptr<std::atomic<bool>> tsfn_finalized_ = std::make_shared<std::atomic<bool>>(false);
  size_t pending_ = 0;  // JS thread only
  uint64_t next_id_ = 0;
  std::chrono::steady_clock::time_point t0_;
  std::deque<TraceEntry> trace_;  // guarded by mu_, bounded
};

}  // namespace lemur
