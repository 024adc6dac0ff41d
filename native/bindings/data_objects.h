// JS classes over the native data structures: Samples (a split's columns), Documents (the
// documents table), Loader (prefetching batches of a Samples). Their tensors borrow the JS
// typed arrays (zero-copy); those arrays must not be mutated while the objects live.
#pragma once
#include <napi.h>

#include <memory>

#include "data/batch_loader.h"
#include "data/dataset.h"

namespace lemur {

class SamplesObject : public Napi::ObjectWrap<SamplesObject> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit SamplesObject(const Napi::CallbackInfo& info);
  std::shared_ptr<const data::SampleTable> table;

 private:
  Napi::Value Rows(const Napi::CallbackInfo& info);
};

class DocumentsObject : public Napi::ObjectWrap<DocumentsObject> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit DocumentsObject(const Napi::CallbackInfo& info);
  std::shared_ptr<const data::DocumentTable> table;

 private:
  Napi::Value Rows(const Napi::CallbackInfo& info);
};

class LoaderObject : public Napi::ObjectWrap<LoaderObject> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit LoaderObject(const Napi::CallbackInfo& info);
  std::shared_ptr<data::BatchLoader> loader;
  static LoaderObject* From(const Napi::Value& value, const char* what);

 private:
  Napi::Value Position(const Napi::CallbackInfo& info);
  Napi::Value BatchesPerEpoch(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Peek(const Napi::CallbackInfo& info);
  Napi::Value Drain(const Napi::CallbackInfo& info);
};

DocumentsObject* documents_from(const Napi::Value& value);

}  // namespace lemur
