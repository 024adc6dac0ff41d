// checkCollectives(options): the process group's self-test (distributed/collectives_check.h)
// on a libuv worker thread, so the event loop stays free while the ranks meet.
#include "bindings/bindings.h"
#include "bindings/group_options.h"
#include "core/js_error.h"
#include "distributed/collectives_check.h"

namespace lemur {
namespace {

class CheckWorker : public Napi::AsyncWorker {
 public:
  CheckWorker(Napi::Env env, dist::GroupOptions options, std::string device)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), options_(std::move(options)), device_(std::move(device)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      report_ = dist::check_collectives(options_, c10::Device(device_));
    } catch (...) {
      SetError(describe_current_exception());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("backend", report_.backend);
    o.Set("device", report_.device);
    o.Set("rank", report_.rank);
    o.Set("worldSize", report_.world_size);
    o.Set("seconds", report_.seconds);
    Napi::Array checks = Napi::Array::New(env, report_.checks.size());
    for (size_t i = 0; i < report_.checks.size(); ++i) {
      const auto& c = report_.checks[i];
      Napi::Object x = Napi::Object::New(env);
      x.Set("name", c.name);
      x.Set("ok", c.ok);
      x.Set("maxError", c.max_error);
      x.Set("detail", c.detail);
      checks.Set(static_cast<uint32_t>(i), x);
    }
    o.Set("checks", checks);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  dist::GroupOptions options_;
  std::string device_;
  dist::CollectivesReport report_;
};

// checkCollectives({ rank, worldSize, masterAddr, masterPort, timeoutMs, backend, device })
//   -> Promise<{ backend, device, rank, worldSize, seconds, checks: [{ name, ok, maxError, detail }] }>
Napi::Value CheckCollectives(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) throw UserError("checkCollectives(options): options must be an object");
    JsObject o(info[0].As<Napi::Object>(), "distributed");
    auto* w = new CheckWorker(env, group_options_from(o), o.string("device", "cpu"));
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  });
}

}  // namespace

dist::GroupOptions group_options_from(const JsObject& o) {
  dist::GroupOptions g;
  g.rank = static_cast<int>(o.integer("rank"));
  g.world_size = static_cast<int>(o.integer("worldSize"));
  g.master_addr = o.string("masterAddr");
  g.master_port = static_cast<int>(o.integer("masterPort"));
  g.timeout = std::chrono::milliseconds(o.integer("timeoutMs"));
  g.backend = o.string("backend", "auto");
  g.global_negatives = o.boolean("globalNegatives", true);
  g.overlap = o.boolean("overlap", true);
  return g;
}

void init_distributed_binding(Napi::Env env, Napi::Object exports) {
  exports.Set("checkCollectives", Napi::Function::New(env, CheckCollectives, "checkCollectives"));
}

}  // namespace lemur
