#include "core/serial_executor.h"

#include "core/exit_guard.h"
#include "core/js_error.h"
#include "core/threads.h"

namespace lemur {

struct SerialExecutor::Task {
  uint64_t id;
  std::string label;
  Work work;
  Finish finish;
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference owner;
  bool failed = false;
  bool user_error = false;
  std::string error;
};

namespace {
constexpr size_t kTraceLength = 256;
}

SerialExecutor::SerialExecutor(Napi::Env env, std::string name)
    : name_(std::move(name)), t0_(std::chrono::steady_clock::now()) {
  auto finalized = tsfn_finalized_;
  tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function(), "lemur:" + name_, 0, 1,
                                        [finalized](Napi::Env) { finalized->store(true); });
  tsfn_.Unref(env);  // referenced only while work is pending
  thread_ = std::thread([this] { loop(); });
  register_at_exit(this, [this] { shutdown(); });
}

SerialExecutor::~SerialExecutor() {
  unregister_at_exit(this);
  shutdown();
  // At environment teardown Node closes the TSFN itself, then finalizes the objects that own
  // executors: releasing it here again would touch a freed function.
  if (!tsfn_finalized_->load()) tsfn_.Release();
}

void SerialExecutor::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Napi::Promise SerialExecutor::submit(Napi::Env env, Napi::Object owner, std::string label,
                                     Work work, Finish finish) {
  auto deferred = Napi::Promise::Deferred::New(env);
  auto* task = new Task{next_id_++, std::move(label), std::move(work), std::move(finish),
                        deferred, Napi::Persistent(owner)};
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      delete task;
      throw UserError("the native queue '" + name_ + "' is shut down");
    }
    queue_.push_back(task);
  }
  if (pending_++ == 0) tsfn_.Ref(env);
  cv_.notify_one();
  return deferred.Promise();
}

void SerialExecutor::loop() {
  uint64_t applied = 0;
  for (;;) {
    Task* task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop requested and nothing left
      task = queue_.front();
      queue_.pop_front();
    }
    auto started = std::chrono::steady_clock::now();
    try {
      apply_thread_settings(applied);
      task->work();
    } catch (...) {
      task->failed = true;
      task->user_error = current_exception_is_user_error();
      task->error = describe_current_exception();
    }
    // Inputs captured by the work die here, on this thread: borrowed JS buffers are then
    // released through the bridge's JS-thread channel, and memory is freed without delay.
    try {
      task->work = nullptr;
    } catch (...) {
    }
    auto ended = std::chrono::steady_clock::now();
    {
      std::lock_guard<std::mutex> lock(mu_);
      using ms = std::chrono::duration<double, std::milli>;
      trace_.push_back({task->id, task->label, ms(started - t0_).count(), ms(ended - t0_).count(),
                        task->failed});
      if (trace_.size() > kTraceLength) trace_.pop_front();
    }
    napi_status st = tsfn_.BlockingCall(task, [this](Napi::Env env, Napi::Function, Task* t) {
      settle(env, t);
    });
    if (st != napi_ok) {  // environment is closing: nobody is waiting any more
      task->owner.SuppressDestruct();
      delete task;
    }
  }
}

void SerialExecutor::settle(Napi::Env env, Task* task) {
  std::unique_ptr<Task> owned(task);
  Napi::HandleScope scope(env);
  if (--pending_ == 0) tsfn_.Unref(env);
  if (task->failed) {
    task->deferred.Reject(js_error(env, task->error, task->user_error).Value());
    return;
  }
  try {
    task->deferred.Resolve(task->finish ? task->finish(env) : env.Undefined());
  } catch (const Napi::Error& e) {
    task->deferred.Reject(e.Value());
  } catch (...) {
    task->deferred.Reject(js_error(env, describe_current_exception(), current_exception_is_user_error()).Value());
  }
}

std::vector<SerialExecutor::TraceEntry> SerialExecutor::trace() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {trace_.begin(), trace_.end()};
}

Napi::Array SerialExecutor::trace_js(Napi::Env env) const {
  auto entries = trace();
  Napi::Array a = Napi::Array::New(env, entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", static_cast<double>(entries[i].id));
    o.Set("label", entries[i].label);
    o.Set("startMs", entries[i].start_ms);
    o.Set("endMs", entries[i].end_ms);
    o.Set("failed", entries[i].failed);
    a.Set(static_cast<uint32_t>(i), o);
  }
  return a;
}

}  // namespace lemur
