// Samples, Documents and Loader exposed to JS (see data_objects.h).
#include <ATen/ATen.h>

#include <chrono>

#include "bindings/bindings.h"
#include "bindings/data_objects.h"
#include "bindings/js_object.h"
#include "core/addon_env.h"
#include "core/js_error.h"
#include "core/tensor_bridge.h"
#include "core/tensor_object.h"

namespace lemur {

namespace {

at::Tensor column(Napi::Env env, const JsObject& o, const char* key, at::ScalarType dtype, std::vector<int64_t> shape = {}) {
  return borrow_checked(env, o.get(key), dtype, shape, o.field(key));
}

}  // namespace

// ---------------------------------------------------------------- Samples

Napi::Function SamplesObject::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "Samples", {InstanceAccessor<&SamplesObject::Rows>("rows")});
  AddonEnv::of(env).samples_ctor = Napi::Persistent(f);
  return f;
}

SamplesObject::SamplesObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SamplesObject>(info) {
  Napi::Env env = info.Env();
  js_call(env, [&] {
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsNumber())
      throw UserError("new Samples(columns, numDocuments, name): expected an object of columns and a document count");
    std::string name = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "samples";
    JsObject o(info[0].As<Napi::Object>(), name);
    auto t = std::make_shared<data::SampleTable>();
    t->rows = o.integer("rows");
    t->label = column(env, o, "label", at::kFloat);
    t->doc = column(env, o, "doc", at::kInt);
    t->user = column(env, o, "user", at::kInt);
    t->query = column(env, o, "query", at::kInt);
    if (o.has("queryTokens")) {
      const int64_t width = o.integer("queryTokenWidth");
      t->query_tokens = column(env, o, "queryTokens", at::kInt, {t->rows, width});
    }
    for (auto& c : o.objects("categorical")) {
      t->categorical_names.push_back(c.string("name"));
      t->categorical.push_back(column(env, c, "values", at::kInt));
    }
    for (auto& c : o.objects("dense")) {
      t->dense_names.push_back(c.string("name"));
      t->dense.push_back(column(env, c, "values", at::kFloat));
    }
    for (auto& s : o.objects("sequences")) {
      data::SequenceColumn col;
      col.name = s.string("name");
      col.offsets = column(env, s, "offsets", at::kInt);
      col.values = column(env, s, "values", at::kInt);
      if (s.has("action")) col.action = column(env, s, "action", at::kInt);
      if (s.has("age")) col.age = column(env, s, "age", at::kFloat);
      t->sequences.push_back(std::move(col));
    }
    if (o.has("coldStart")) t->cold = column(env, o, "coldStart", at::kByte);
    t->check(info[1].As<Napi::Number>().Int64Value(), name);
    table = std::move(t);
  });
}

Napi::Value SamplesObject::Rows(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(table->rows));
}

// ---------------------------------------------------------------- Documents

Napi::Function DocumentsObject::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "Documents", {InstanceAccessor<&DocumentsObject::Rows>("rows")});
  AddonEnv::of(env).documents_ctor = Napi::Persistent(f);
  return f;
}

DocumentsObject::DocumentsObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DocumentsObject>(info) {
  Napi::Env env = info.Env();
  js_call(env, [&] {
    if (info.Length() < 1 || !info[0].IsObject()) throw UserError("new Documents(columns): expected an object of columns");
    JsObject o(info[0].As<Napi::Object>(), "documents");
    auto t = std::make_shared<data::DocumentTable>();
    t->rows = o.integer("rows");
    t->tokens = column(env, o, "tokens", at::kInt, {t->rows, o.integer("tokenWidth")});
    if (o.has("images")) {
      auto shape = o.integers("imageShape");
      if (shape.size() != 3) throw UserError("documents.imageShape: expected [height, width, channels]");
      t->images = column(env, o, "images", at::kByte, {t->rows, shape[0], shape[1], shape[2]});
      if (o.has("hasImage")) t->has_image = column(env, o, "hasImage", at::kByte);
    }
    if (o.has("categorical"))
      for (auto& c : o.objects("categorical")) {
        t->categorical_names.push_back(c.string("name"));
        t->categorical.push_back(column(env, c, "values", at::kInt));
      }
    t->check("documents");
    table = std::move(t);
  });
}

Napi::Value DocumentsObject::Rows(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(table->rows));
}

DocumentsObject* documents_from(const Napi::Value& value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(AddonEnv::of(value.Env()).documents_ctor.Value()))
    throw UserError("expected a Documents object");
  return DocumentsObject::Unwrap(value.As<Napi::Object>());
}

// ---------------------------------------------------------------- Loader

Napi::Function LoaderObject::Init(Napi::Env env) {
  Napi::Function f = DefineClass(env, "Loader",
                                 {InstanceAccessor<&LoaderObject::Position>("position"),
                                  InstanceAccessor<&LoaderObject::BatchesPerEpoch>("batchesPerEpoch"),
                                  InstanceMethod<&LoaderObject::Close>("close"),
                                  InstanceMethod<&LoaderObject::Peek>("peek"),
                                  InstanceMethod<&LoaderObject::Drain>("drain")});
  AddonEnv::of(env).loader_ctor = Napi::Persistent(f);
  return f;
}

LoaderObject::LoaderObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<LoaderObject>(info) {
  Napi::Env env = info.Env();
  js_call(env, [&] {
    if (info.Length() < 2 || !info[0].IsObject() || !info[0].As<Napi::Object>().InstanceOf(AddonEnv::of(env).samples_ctor.Value()))
      throw UserError("new Loader(samples, options): expected a Samples object");
    auto* samples = SamplesObject::Unwrap(info[0].As<Napi::Object>());
    JsObject o(info[1].As<Napi::Object>(), "loader");
    data::LoaderOptions opt;
    opt.batch_size = o.integer("batchSize");
    opt.shuffle = o.boolean("shuffle", true);
    opt.seed = static_cast<uint64_t>(o.integer("seed", 0));
    opt.epoch = o.integer("epoch", 0);
    opt.start_batch = o.integer("startBatch", 0);
    opt.drop_last = o.boolean("dropLast", false);
    opt.prefetch = o.integer("prefetch", 4);
    opt.shard_rank = o.integer("shardRank", 0);
    opt.shard_count = o.integer("shardCount", 1);
    opt.shard_pad = o.boolean("shardPad", false);
    if (o.has("views"))
      for (auto& v : o.objects("views"))
        opt.views.push_back({v.string("name"), v.string("column"), v.integer("maxLength", 0), v.boolean("action", false),
                             v.boolean("age", false)});
    loader = std::make_shared<data::BatchLoader>(samples->table, opt);
  });
}

LoaderObject* LoaderObject::From(const Napi::Value& value, const char* what) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(AddonEnv::of(value.Env()).loader_ctor.Value()))
    throw UserError(std::string(what) + ": expected a Loader");
  auto* l = Unwrap(value.As<Napi::Object>());
  if (!l->loader) throw UserError(std::string(what) + ": the loader is closed");
  return l;
}

Napi::Value LoaderObject::Position(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  if (!loader) return info.Env().Null();
  o.Set("epoch", static_cast<double>(loader->epoch()));
  o.Set("batch", static_cast<double>(loader->batch_index()));
  return o;
}

Napi::Value LoaderObject::BatchesPerEpoch(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), loader ? static_cast<double>(loader->batches_per_epoch()) : 0.0);
}

Napi::Value LoaderObject::Close(const Napi::CallbackInfo& info) {
  loader.reset();  // a step still holding it keeps it alive until the step ends
  return info.Env().Undefined();
}

// peek(): the next batch as plain typed arrays (for tests and data inspection). Blocking:
// meant for small data.
Napi::Value LoaderObject::Peek(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    if (!loader) throw UserError("the loader is closed");
    data::Batch b;
    if (!loader->next(b)) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("size", static_cast<double>(b.size));
    o.Set("rows", export_tensor(env, b.rows));
    o.Set("label", export_tensor(env, b.label));
    o.Set("doc", export_tensor(env, b.doc));
    o.Set("user", export_tensor(env, b.user));
    o.Set("query", export_tensor(env, b.query));
    o.Set("categorical", export_tensor(env, b.categorical));
    o.Set("dense", export_tensor(env, b.dense));
    o.Set("uniqueDocs", export_tensor(env, b.unique_docs));
    o.Set("docInverse", export_tensor(env, b.doc_inverse));
    if (b.query_tokens.defined()) o.Set("queryTokens", export_tensor(env, b.query_tokens));
    Napi::Object seqs = Napi::Object::New(env);
    for (const auto& s : b.sequences) {
      Napi::Object so = Napi::Object::New(env);
      so.Set("offsets", export_tensor(env, s.offsets));
      so.Set("ids", export_tensor(env, s.ids));
      if (s.action.defined()) so.Set("action", export_tensor(env, s.action));
      if (s.age.defined()) so.Set("age", export_tensor(env, s.age));
      seqs.Set(s.name, so);
    }
    o.Set("sequences", seqs);
    return o;
  });
}

namespace {

// Pulls batches off the loader on a libuv worker thread and times them: the loader's
// throughput when nothing else consumes (bench/data.mjs).
class DrainWorker : public Napi::AsyncWorker {
 public:
  DrainWorker(Napi::Env env, std::shared_ptr<data::BatchLoader> loader, int64_t batches)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), loader_(std::move(loader)),
        batches_(batches) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      auto t0 = std::chrono::steady_clock::now();
      data::Batch b;
      while (done_ < batches_) {
        if (!loader_->next(b)) continue;  // epoch boundary
        ++done_;
        samples_ += b.size;
        for (const auto& s : b.sequences) events_ += s.ids.numel();
      }
      seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    } catch (...) {
      SetError(describe_current_exception());
    }
  }
  void OnOK() override {
    Napi::Object o = Napi::Object::New(Env());
    o.Set("batches", static_cast<double>(done_));
    o.Set("samples", static_cast<double>(samples_));
    o.Set("events", static_cast<double>(events_));
    o.Set("seconds", seconds_);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<data::BatchLoader> loader_;
  int64_t batches_, done_ = 0, samples_ = 0, events_ = 0;
  double seconds_ = 0;
};

}  // namespace

// drain(batches) -> Promise<{ batches, samples, events, seconds }>
Napi::Value LoaderObject::Drain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    if (!loader) throw UserError("the loader is closed");
    auto* w = new DrainWorker(env, loader, info[0].As<Napi::Number>().Int64Value());
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  });
}

void init_data_binding(Napi::Env env, Napi::Object exports) {
  exports.Set("Samples", SamplesObject::Init(env));
  exports.Set("Documents", DocumentsObject::Init(env));
  exports.Set("Loader", LoaderObject::Init(env));
}

}  // namespace lemur
