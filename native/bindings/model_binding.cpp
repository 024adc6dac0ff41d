// Model: a Trainer on its own serialized executor. Every method that touches the model is
// queued there and returns a Promise; construction itself is queued too (ready()).
#include <ATen/ATen.h>

#include <atomic>
#include <memory>

#include "bindings/bindings.h"
#include "bindings/group_options.h"
#include "bindings/data_objects.h"
#include "bindings/js_object.h"
#include "core/allocator.h"
#include "core/js_error.h"
#include "core/serial_executor.h"
#include "core/tensor_bridge.h"
#include "core/tensor_object.h"
#include "model/trainer.h"

namespace lemur {
namespace {

model::EncoderConfig read_encoder(const JsObject& o) {
  model::EncoderConfig e;
  e.enabled = o.boolean("enabled");
  e.layers = o.integer("layers");
  e.width = o.integer("width");
  e.heads = o.integer("heads");
  e.ffn_mult = o.integer("ffnMult");
  e.patch = o.integer("patch", 8);
  e.dropout = o.number("dropout", 0.0);
  return e;
}

model::ModelConfig read_config(const JsObject& o) {
  model::ModelConfig c;
  c.num_documents = o.integer("numDocuments");
  c.num_users = o.integer("numUsers");
  c.vocab_size = o.integer("vocabSize");
  c.doc_tokens = o.integer("docTokens");
  c.query_tokens = o.integer("queryTokens");
  c.text_fields = o.integer("textFields");
  if (o.has("image")) {
    JsObject im = o.object("image");
    c.image_h = im.integer("height");
    c.image_w = im.integer("width");
    c.image_c = im.integer("channels");
  }
  for (auto& f : o.objects("categorical")) c.categorical.push_back({f.string("name"), f.integer("buckets")});
  for (auto& f : o.objects("docCategorical")) c.doc_categorical.push_back({f.string("name"), f.integer("buckets")});
  c.dense = o.integer("dense");
  c.action_types = o.integer("actionTypes");
  c.embedding_dim = o.integer("embeddingDim");
  c.id_dim = o.integer("idDim");
  c.user_id = o.boolean("userId");
  c.doc_id = o.boolean("docId");
  c.query_doc_similarity = o.boolean("queryDocSimilarity");
  c.doc_id_dropout = o.number("docIdDropout");
  c.user_buckets = o.integer("userBuckets");
  c.doc_buckets = o.integer("docBuckets");
  c.query_encoder = read_encoder(o.object("queryEncoder"));
  c.doc_encoder = read_encoder(o.object("docEncoder"));
  c.encode_forward = o.number("encodeForward");
  c.encode_backward = o.number("encodeBackward");
  c.stop_gradient = o.boolean("stopGradient");
  c.fresh_in_batch = o.string("freshInBatch");
  c.bank_dtype = o.string("bankDtype");
  c.bank = o.boolean("bank");
  c.history_source = o.string("historySource");
  c.similarity_length = o.integer("similarityLength");
  for (auto& s : o.objects("sequences")) {
    model::SequenceConfig sc;
    sc.name = s.string("name");
    sc.column = s.string("column");
    sc.max_length = s.integer("maxLength");
    sc.use_action = s.boolean("action");
    sc.use_age = s.boolean("age");
    sc.id_encoder = s.string("idEncoder");
    sc.bank = s.boolean("bank");
    sc.similarity = s.boolean("similarity");
    c.sequences.push_back(sc);
  }
  JsObject d = o.object("decoder");
  c.decoder = {d.integer("layers"), d.integer("heads"), d.integer("queries"), d.integer("ffnMult"), d.integer("width"),
               d.boolean("fused"), d.string("queriesFrom"), d.boolean("memoryNorm")};
  JsObject l = o.object("longer");
  c.longer = {l.integer("layers"), l.integer("heads"), l.integer("globalTokens"), l.integer("recent"),
              l.integer("ffnMult"), l.integer("width")};
  JsObject b = o.object("backbone");
  c.backbone.type = b.string("type");
  c.backbone.tokens = b.integer("tokens");
  c.backbone.width = b.integer("width");
  c.backbone.layers = b.integer("layers");
  c.backbone.ffn_mult = b.integer("ffnMult");
  c.backbone.mlp_hidden = b.integers("mlpHidden");
  c.backbone.queries_per_sequence = b.integer("queriesPerSequence");
  c.backbone.ns_tokens = b.integer("nsTokens");
  c.backbone.sequence_encoder = b.string("sequenceEncoder");
  c.backbone.recent = b.integer("recent");
  JsObject lo = o.object("loss");
  c.loss = {lo.number("sqdcWeight"), lo.number("temperature"), lo.boolean("sameQueryMask")};
  JsObject op = o.object("optim");
  c.optim.lr = op.number("lr");
  c.optim.encoder_lr = op.number("encoderLr");
  c.optim.weight_decay = op.number("weightDecay");
  c.optim.beta1 = op.number("beta1");
  c.optim.beta2 = op.number("beta2");
  c.optim.eps = op.number("eps");
  c.optim.warmup_steps = op.integer("warmupSteps");
  c.optim.clip_norm = op.number("clipNorm");
  c.optim.sparse = op.string("sparse");
  c.optim.sparse_lr = op.number("sparseLr");
  c.optim.sparse_eps = op.number("sparseEps");
  c.optim.non_finite = op.string("nonFinite");
  c.pretrain_steps = o.integer("pretrainSteps");
  c.device = o.string("device");
  c.bf16 = o.boolean("bf16");
  c.seed = static_cast<uint64_t>(o.integer("seed"));
  if (o.has("tableShards")) {
    JsObject ts = o.object("tableShards");
    c.table_shard_rank = static_cast<int>(ts.integer("rank"));
    c.table_shard_count = static_cast<int>(ts.integer("count"));
  }
  if (o.has("bankShards")) {
    JsObject bs = o.object("bankShards");
    c.bank_shard_rank = static_cast<int>(bs.integer("rank"));
    c.bank_shard_count = static_cast<int>(bs.integer("count"));
  }
  return c;
}

Napi::Object step_stats_to_js(Napi::Env env, const model::StepStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("done", s.done);
  o.Set("skipped", s.skipped);
  o.Set("stop", s.stop);
  o.Set("step", static_cast<double>(s.step));
  o.Set("samples", static_cast<double>(s.samples));
  o.Set("loss", s.loss);
  o.Set("bce", s.bce);
  o.Set("sqdc", s.sqdc);
  o.Set("lr", s.lr);
  o.Set("gradNorm", s.grad_norm);
  o.Set("encoderGradNorm", s.encoder_grad_norm);
  o.Set("queryGradNorm", s.query_grad_norm);
  o.Set("documentGradNorm", s.document_grad_norm);
  o.Set("phase", s.phase);
  o.Set("uniqueDocs", static_cast<double>(s.unique_docs));
  o.Set("encoded", static_cast<double>(s.encoded));
  o.Set("encodedWithGrad", static_cast<double>(s.encoded_with_grad));
  o.Set("targetMisses", static_cast<double>(s.target_misses));
  Napi::Object t = Napi::Object::New(env);
  t.Set("data", s.t_data);
  t.Set("encoder", s.t_encoder);
  t.Set("bank", s.t_bank);
  t.Set("backbone", s.t_backbone);
  t.Set("backward", s.t_backward);
  t.Set("optimizer", s.t_optimizer);
  t.Set("communication", s.t_communication);
  t.Set("total", s.t_total);
  o.Set("seconds", t);
  return o;
}

class ModelObject : public Napi::ObjectWrap<ModelObject> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    exports.Set("Model", DefineClass(env, "Model",
                                     {InstanceMethod<&ModelObject::Ready>("ready"),
                                      InstanceMethod<&ModelObject::Close>("close"),
                                      InstanceMethod<&ModelObject::TrainStep>("trainStep"),
                                      InstanceMethod<&ModelObject::PretrainStep>("pretrainStep"),
                                      InstanceMethod<&ModelObject::PredictStep>("predictStep"),
                                      InstanceMethod<&ModelObject::BankStats>("bankStats"),
                                      InstanceMethod<&ModelObject::Staleness>("staleness"),
                                      InstanceMethod<&ModelObject::IndexDocuments>("indexDocuments"),
                                      InstanceMethod<&ModelObject::DocumentEmbeddings>("documentEmbeddings"),
                                      InstanceMethod<&ModelObject::Save>("save"),
                                      InstanceMethod<&ModelObject::Load>("load"),
                                      InstanceMethod<&ModelObject::Trace>("trace"),
                                      InstanceMethod<&ModelObject::JoinGroup>("joinGroup"),
                                      InstanceMethod<&ModelObject::SaveShard>("saveShard"),
                                      InstanceMethod<&ModelObject::Allgather>("allgather"),
                                      InstanceMethod<&ModelObject::ParameterDigest>("parameterDigest"),
                                      InstanceMethod<&ModelObject::Barrier>("barrier"),
                                      InstanceMethod<&ModelObject::Traffic>("traffic"),
                                      InstanceAccessor<&ModelObject::Step>("step"),
                                      InstanceAccessor<&ModelObject::PretrainSteps>("pretrainSteps")}));
  }

  // new Model(nativeConfig, documents | null)
  explicit ModelObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelObject>(info) {
    Napi::Env env = info.Env();
    js_call(env, [&] {
      if (info.Length() < 1 || !info[0].IsObject()) throw UserError("new Model(config, documents): config must be an object");
      model::ModelConfig config = read_config(JsObject(info[0].As<Napi::Object>(), "config"));
      std::shared_ptr<const data::DocumentTable> docs;
      if (info.Length() > 1 && !info[1].IsNull() && !info[1].IsUndefined()) docs = documents_from(info[1])->table;
      executor_ = std::make_unique<SerialExecutor>(env, "model");
      auto state = state_;
      Napi::Promise ready = executor_->submit(
          env, info.This().As<Napi::Object>(), "construct",
          [state, config, docs] {
            state->trainer = std::make_unique<model::Trainer>(config, docs);
            state->parameters = state->trainer->parameter_count();
            state->id_parameters = state->trainer->id_table_parameter_count();
          },
          [state](Napi::Env e) -> Napi::Value {
            Napi::Object o = Napi::Object::New(e);
            o.Set("parameters", static_cast<double>(state->parameters));
            o.Set("idTableParameters", static_cast<double>(state->id_parameters));
            return o;
          });
      ready_ = Napi::Persistent(ready.As<Napi::Object>());
    });
  }

 private:
  struct State {
    std::unique_ptr<model::Trainer> trainer;
    bool closed = false;  // worker thread only
    std::atomic<int64_t> step{0}, pretrain_steps{0};
    int64_t parameters = 0, id_parameters = 0;
    model::Trainer& get() {
      if (closed) throw UserError("this model is closed (close() was called): create or load a model to go on");
      if (!trainer) throw UserError("the model failed to construct (see the error of ready())");
      return *trainer;
    }
  };

  template <typename Work, typename Finish>
  Napi::Value queue(const Napi::CallbackInfo& info, const char* label, Work work, Finish finish) {
    return executor_->submit(info.Env(), Value(), label, std::move(work), std::move(finish));
  }

  Napi::Value Ready(const Napi::CallbackInfo& info) { return ready_.Value(); }

  // close(): after the tasks queued before it, frees the trainer (parameters, optimizer
  // state, memory bank, process group) and hands free memory back to the system, instead of
  // whenever the garbage collector finalizes this object (V8 does not see native memory, so
  // that may be never). Later calls fail with "this model is closed"; closing twice is a no-op.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    return js_call(info.Env(), [&]() -> Napi::Value {
      auto state = state_;
      return queue(
          info, "close",
          [state] {
            state->trainer.reset();
            state->closed = true;
            core::release_free_memory();
          },
          [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
    });
  }

  Napi::Value Step(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(state_->step.load()));
  }

  Napi::Value PretrainSteps(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(state_->pretrain_steps.load()));
  }

  Napi::Value TrainStep(const Napi::CallbackInfo& info) { return QueueStep(info, false); }
  Napi::Value PretrainStep(const Napi::CallbackInfo& info) { return QueueStep(info, true); }

  Napi::Value QueueStep(const Napi::CallbackInfo& info, bool pretrain) {
    const char* label = pretrain ? "pretrainStep" : "trainStep";
    return js_call(info.Env(), [&]() -> Napi::Value {
      auto loader = LoaderObject::From(info[0], label)->loader;
      const bool stop = info.Length() > 1 && info[1].ToBoolean().Value();
      auto state = state_;
      auto stats = std::make_shared<model::StepStats>();
      return queue(
          info, label,
          [state, loader, stats, pretrain, stop] {
            auto& t = state->get();
            *stats = pretrain ? t.pretrain_step(*loader, stop) : t.train_step(*loader, stop);
            state->step = t.step();
            state->pretrain_steps = t.pretrain_step_count();
          },
          [stats](Napi::Env e) -> Napi::Value { return step_stats_to_js(e, *stats); });
    });
  }

  // predictStep(loader, encodeMissing) -> { done, scores, logits, labels, rows, query, user, doc, cold? }
  Napi::Value PredictStep(const Napi::CallbackInfo& info) {
    return js_call(info.Env(), [&]() -> Napi::Value {
      auto loader = LoaderObject::From(info[0], "predictStep")->loader;
      bool encode_missing = info.Length() > 1 && info[1].ToBoolean().Value();
      auto state = state_;
      auto out = std::make_shared<model::PredictBatch>();
      return queue(
          info, "predictStep",
          [state, loader, out, encode_missing] { *out = state->get().predict_step(*loader, encode_missing); },
          [out](Napi::Env e) -> Napi::Value {
            Napi::Object o = Napi::Object::New(e);
            o.Set("done", out->done);
            if (out->done) return o;
            o.Set("scores", export_tensor(e, out->scores));
            o.Set("logits", export_tensor(e, out->logits));
            o.Set("labels", export_tensor(e, out->labels));
            o.Set("rows", export_tensor(e, out->rows));
            o.Set("query", export_tensor(e, out->query));
            o.Set("user", export_tensor(e, out->user));
            o.Set("doc", export_tensor(e, out->doc));
            if (out->cold.defined()) o.Set("cold", export_tensor(e, out->cold));
            if (out->query_embeddings.defined()) o.Set("queryEmbeddings", export_tensor(e, out->query_embeddings));
            o.Set("targetMisses", static_cast<double>(out->target_misses));
            return o;
          });
    });
  }

  Napi::Value BankStats(const Napi::CallbackInfo& info) {
    return js_call(info.Env(), [&]() -> Napi::Value {
      bool reset = info.Length() > 0 && info[0].ToBoolean().Value();
      auto state = state_;
      auto s = std::make_shared<model::BankStats>();
      return queue(
          info, "bankStats", [state, s, reset] { *s = state->get().bank_stats(reset); },
          [s](Napi::Env e) -> Napi::Value {
            Napi::Object o = Napi::Object::New(e);
            o.Set("rows", static_cast<double>(s->rows));
            o.Set("held", static_cast<double>(s->held));
            o.Set("written", static_cast<double>(s->written));
            o.Set("meanAge", s->mean_age);
            o.Set("targetLookups", static_cast<double>(s->coverage.target_lookups));
            o.Set("targetHits", static_cast<double>(s->coverage.target_hits));
            o.Set("historyLookups", static_cast<double>(s->coverage.history_lookups));
            o.Set("historyHits", static_cast<double>(s->coverage.history_hits));
            return o;
          });
    });
  }

  Napi::Value Staleness(const Napi::CallbackInfo& info) {
    return js_call(info.Env(), [&]() -> Napi::Value {
      int64_t probe = info.Length() > 0 ? info[0].As<Napi::Number>().Int64Value() : 256;
      auto state = state_;
      auto v = std::make_shared<double>(0);
      return queue(
          info, "staleness", [state, v, probe] { *v = state->get().staleness(probe); },
          [v](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *v); });
    });
  }

  Napi::Value IndexDocuments(const Napi::CallbackInfo& info) {
    return js_call(info.Env(), [&]() -> Napi::Value {
      at::Tensor ids;
      if (info.Length() > 0 && !info[0].IsUndefined()) ids = TensorObject::TensorOf(info.Env(), info[0], "indexDocuments: ids").to(at::kLong);
      auto state = state_;
      return queue(info, "indexDocuments", [state, ids] { state->get().index_documents(ids); },
                   [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
    });
  }

  Napi::Value DocumentEmbeddings(const Napi::CallbackInfo& info) {
    return js_call(info.Env(), [&]() -> Napi::Value {
      at::Tensor ids = TensorObject::TensorOf(info.Env(), info[0], "documentEmbeddings: ids").to(at::kLong);
      bool from_bank = info.Length() > 1 && info[1].ToBoolean().Value();
      auto state = state_;
      auto out = std::make_shared<at::Tensor>();
      return queue(
          info, "documentEmbeddings", [state, ids, from_bank, out] { *out = state->get().document_embeddings(ids, from_bank); },
          [out](Napi::Env e) -> Napi::Value { return TensorObject::Wrap(e, *out); });
    });
  }

  Napi::Value Save(const Napi::CallbackInfo& info) {
    return js_call(info.Env(), [&]() -> Napi::Value {
      std::string path = info[0].As<Napi::String>().Utf8Value();
      auto state = state_;
      return queue(info, "save", [state, path] { state->get().save(path); },
                   [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
    });
  }

  // allgather(Float64Array, width) -> Float64Array: every rank's rows of `width` values
  Napi::Value Allgather(const Napi::CallbackInfo& info) {
    return js_call(info.Env(), [&]() -> Napi::Value {
      const int64_t width = info.Length() > 1 ? info[1].As<Napi::Number>().Int64Value() : 1;
      at::Tensor t = TensorObject::TensorOf(info.Env(), info[0], "allgather: rows").to(at::kDouble).clone();
      if (width < 1 || t.numel() % width != 0) throw UserError("allgather: the array's length is not a multiple of the row width");
      t = t.view({-1, width});
      auto state = state_;
      auto out = std::make_shared<at::Tensor>();
      return queue(
          info, "allgather", [state, t, out] { *out = state->get().allgather(t).reshape({-1}).contiguous(); },
          [out](Napi::Env e) -> Napi::Value { return export_tensor(e, *out); });
    });
  }

  Napi::Value ParameterDigest(const Napi::CallbackInfo& info) {
    return js_call(info.Env(), [&]() -> Napi::Value {
      auto state = state_;
      auto out = std::make_shared<std::string>();
      return queue(info, "parameterDigest", [state, out] { *out = state->get().parameter_digest(); },
                   [out](Napi::Env e) -> Napi::Value { return Napi::String::New(e, *out); });
    });
  }

  Napi::Value SaveShard(const Napi::CallbackInfo& info) {
    return js_call(info.Env(), [&]() -> Napi::Value {
      std::string path = info[0].As<Napi::String>().Utf8Value();
      auto state = state_;
      return queue(info, "saveShard", [state, path] { state->get().save_shard(path); },
                   [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
    });
  }

  Napi::Value Load(const Napi::CallbackInfo& info) {
    return js_call(info.Env(), [&]() -> Napi::Value {
      std::string path = info[0].As<Napi::String>().Utf8Value();
      auto state = state_;
      return queue(
          info, "load",
          [state, path] {
            state->get().load(path);
            state->step = state->get().step();
            state->pretrain_steps = state->get().pretrain_step_count();
          },
          [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
    });
  }

  // joinGroup({ rank, worldSize, masterAddr, masterPort, timeoutMs, backend, fingerprint }): the
  // rendezvous runs on the model's executor, so the event loop stays free while ranks meet.
  Napi::Value JoinGroup(const Napi::CallbackInfo& info) {
    return js_call(info.Env(), [&]() -> Napi::Value {
      if (info.Length() < 1 || !info[0].IsObject()) throw UserError("joinGroup(options): options must be an object");
      JsObject o(info[0].As<Napi::Object>(), "distributed");
      dist::GroupOptions g = group_options_from(o);
      std::string fingerprint = o.string("fingerprint");
      auto state = state_;
      return queue(info, "joinGroup", [state, g, fingerprint] { state->get().join_group(g, fingerprint); },
                   [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
    });
  }

  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    return js_call(info.Env(), [&]() -> Napi::Value {
      std::string what = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "barrier";
      auto state = state_;
      return queue(info, "barrier", [state, what] { state->get().barrier(what); },
                   [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
    });
  }

  // traffic(reset) -> { [kind]: bytes this rank sent } since the last reset
  Napi::Value Traffic(const Napi::CallbackInfo& info) {
    return js_call(info.Env(), [&]() -> Napi::Value {
      bool reset = info.Length() > 0 && info[0].ToBoolean().Value();
      auto state = state_;
      auto out = std::make_shared<std::map<std::string, double>>();
      return queue(
          info, "traffic",
          [state, out, reset] {
            auto* g = state->get().group();
            if (!g) return;
            *out = g->bytes_sent();
            if (reset) g->reset_bytes();
          },
          [out](Napi::Env e) -> Napi::Value {
            Napi::Object o = Napi::Object::New(e);
            for (auto& [k, v] : *out) o.Set(k, v);
            return o;
          });
    });
  }

  Napi::Value Trace(const Napi::CallbackInfo& info) {
    return executor_->trace_js(info.Env());
  }

  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::unique_ptr<SerialExecutor> executor_;
  Napi::ObjectReference ready_;
};

}  // namespace

void init_model_binding(Napi::Env env, Napi::Object exports) { ModelObject::Init(env, exports); }

}  // namespace lemur
